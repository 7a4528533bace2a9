"""The Molmo2 text format our checkpoints are built with: chat tokens, image tokens, coordinate tokens, templates.

These are properties of the checkpoints this project makes (the tokenizer and chat template are written into
the checkpoint); the product reads them back from the checkpoint files, never from here.
"""

from __future__ import annotations

BOS_TOKEN = "<|endoftext|>"
IM_START_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"  # every answer ends with it: the chat template closes each turn with it
PAD_TOKEN = BOS_TOKEN
TEXT_SPECIAL_TOKENS: tuple[str, ...] = (BOS_TOKEN, IM_START_TOKEN, EOS_TOKEN)

# Every value of Molmo2's 0-1000 coordinate scale as written in its answers ("000" ... "999", "1000"): with
# ``coordinate_tokens`` each becomes one ordinary (generatable, decodable) token, so a coordinate is one
# prediction instead of three dependent digits; the text, the parser and the node see the same string.
COORDINATE_TOKENS: tuple[str, ...] = (*(f"{v:03d}" for v in range(1000)), "1000")
# With ``answer_tokens`` the coordinate tokens carry the space every X and Y follows in ``coords="1 1 073 160"``,
# the object ids 1-9 theirs, and the tag's fixed pieces are one token each: a one-point answer takes 13 decoding
# steps instead of 23, and decoding is most of a point query's time on a CPU. The decoded text is the same.
SPACED_COORDINATE_TOKENS: tuple[str, ...] = tuple(" " + t for t in COORDINATE_TOKENS)
# ``answer_tag_tokens`` adds only the tag's fixed pieces (POINT_TAG_TOKENS): the coordinates stay spelled as with
# ``coordinate_tokens`` alone (``1``, `` ``, ``1``, `` ``, ``073``, ...), a one-point answer 15 tokens + the end.
POINT_TAG_TOKENS: tuple[str, ...] = ('<points alt="', '" coords="', '">', "</points>")
ANSWER_TAG_TOKENS: tuple[str, ...] = (*POINT_TAG_TOKENS, *(f" {i}" for i in range(1, 10)))

# The tokens Molmo2Processor and Molmo2Config refer to. The order mirrors the released checkpoints' ids
# (im_start = base + 0, im_end = +1, im_patch = +2, ..., low_res_im_start = +4, frame_start = +7, frame_end = +8).
IMAGE_SPECIAL_TOKENS: tuple[str, ...] = (
    "<im_start>",
    "<im_end>",
    "<im_patch>",
    "<im_col>",
    "<low_res_im_start>",
    "<|image|>",
    "<im_low>",
    "<frame_start>",
    "<frame_end>",
    "<|video|>",
)

# Chat templates written for this project. Both render one ``<|image|>`` placeholder per image (``Image N<|image|>``
# when there are several) and one per video, then ChatML turns; unlike the released template, an assistant turn is
# always closed with ``<|im_end|>`` so training data teaches the model to stop there.
# * CHAT_TEMPLATE (image first) renders the same prompt strings as the released Molmo2 checkpoints for our use:
#   every picture ahead of the conversation.
# * QUESTION_FIRST_TEMPLATE puts the pictures after the first user turn's text, inside that turn. A causal decoder
#   then reads the question before the picture, so every image token can attend to the words it must match
#   ("red", "cup"); with the picture first only the answer positions can, and a small decoder learns that
#   binding far more slowly (../shared/probes: 62 % vs 21.5 % hits). The processor expands ``<|image|>``
#   wherever the template puts it, so the model and the output format stay Molmo2's.
_TEMPLATE_COUNT = (
    "{%- set counts = namespace(images=0, videos=0) -%}"
    "{%- for message in messages if message['content'] is not string -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{%- set counts.images = counts.images + 1 -%}"
    "{%- elif part['type'] == 'video' or 'video' in part or 'video_url' in part -%}"
    "{%- set counts.videos = counts.videos + 1 -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endfor -%}"
)
_TEMPLATE_MEDIA = (
    "{%- if counts.images == 1 -%}<|image|>"
    "{%- else -%}{%- for n in range(counts.images) -%}Image {{ n + 1 }}<|image|>{%- endfor -%}"
    "{%- endif -%}"
    "{%- for n in range(counts.videos) -%}<|video|>{%- endfor -%}"
)
_TEMPLATE_TURN_TEXT = (
    "{%- if message['role'] not in ('user', 'assistant') -%}"
    "{{ raise_exception('Molmo2 chats only have user and assistant turns, got ' ~ message['role']) }}"
    "{%- endif -%}"
    "{%- if message['content'] is string -%}{%- set text = message['content'] -%}"
    "{%- else -%}"
    "{%- set joined = namespace(text='') -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}"
    "{%- set joined.text = joined.text ~ (' ' if joined.text else '') ~ part['text'] -%}"
    "{%- endfor -%}"
    "{%- set text = joined.text -%}"
    "{%- endif -%}"
)
_TEMPLATE_END = "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
CHAT_TEMPLATE = (
    _TEMPLATE_COUNT
    + _TEMPLATE_MEDIA
    + "{%- for message in messages -%}"
    + _TEMPLATE_TURN_TEXT
    + "{{ '<|im_start|>' ~ message['role'] ~ '\\n' ~ text ~ '<|im_end|>\\n' }}"
    + "{%- endfor -%}"
    + _TEMPLATE_END
)
QUESTION_FIRST_TEMPLATE = (
    _TEMPLATE_COUNT
    + "{%- for message in messages -%}"
    + _TEMPLATE_TURN_TEXT
    + "{{ '<|im_start|>' ~ message['role'] ~ '\\n' ~ text }}"
    + "{%- if loop.first -%}{{ '\\n' if text else '' }}"
    + _TEMPLATE_MEDIA
    + "{%- endif -%}"
    + "{{ '<|im_end|>\\n' }}"
    + "{%- endfor -%}"
    + _TEMPLATE_END
)

BUILD_INFO_FILE = "molmo_ros_build.json"
