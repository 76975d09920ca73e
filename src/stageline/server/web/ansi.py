"""ANSI SGR colours in a log line → HTML spans, the text HTML-escaped.

Small on purpose: the 16 named colours become classes (`fg-1`, `bg-9`, styled by the
page's CSS, so a theme can change them); the 256-colour and 24-bit forms become inline
`color:` styles built from numbers only, so nothing from the log reaches an attribute.
Bold, dim, italic and underline are classes too. Every other escape sequence (cursor
moves, OSC titles and links) is dropped: a log page has no cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from html import escape

from markupsafe import Markup

#: CSI sequences (ESC [ params final) and OSC strings (ESC ] ... BEL or ST), and lone ESCs.
_ESCAPE = re.compile(r"\x1b\[([0-9;:?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b")

_FLAGS = {1: "bold", 2: "dim", 3: "italic", 4: "underline"}
_UNSET = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",)}

#: xterm's 6×6×6 cube levels.
_CUBE = (0, 95, 135, 175, 215, 255)
#: xterm's first 16 colours, for 256-colour indices below 16.
_BASIC = (
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16),
    (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
    (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
    (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Style:
    fg: int | tuple[int, int, int] | None = None
    bg: int | tuple[int, int, int] | None = None
    flags: frozenset[str] = field(default_factory=frozenset)

    def span(self) -> tuple[str, str]:
        """The opening tag for text in this style, and its closing tag ('' when plain)."""
        classes = sorted(self.flags)
        styles: list[str] = []
        for prefix, prop, colour in (("fg", "color", self.fg), ("bg", "background", self.bg)):
            if isinstance(colour, int):
                classes.append(f"{prefix}-{colour}")
            elif colour is not None:
                styles.append(f"{prop}:#{colour[0]:02x}{colour[1]:02x}{colour[2]:02x}")
        if not classes and not styles:
            return "", ""
        attrs = f' class="{" ".join(classes)}"' if classes else ""
        attrs += f' style="{";".join(styles)}"' if styles else ""
        return f"<span{attrs}>", "</span>"


def _colour_256(index: int) -> tuple[int, int, int]:
    if index < 16:
        return _BASIC[index]
    if index < 232:
        index -= 16
        return _CUBE[index // 36], _CUBE[index // 6 % 6], _CUBE[index % 6]
    level = 8 + 10 * (index - 232)
    return level, level, level


def _apply(style: _Style, params: list[int]) -> _Style:
    """`style` after one SGR sequence's parameters."""
    i = 0
    while i < len(params):
        code = params[i]
        i += 1
        if code == 0:
            style = _Style()
        elif code in _FLAGS:
            style = replace(style, flags=style.flags | {_FLAGS[code]})
        elif code in _UNSET:
            style = replace(style, flags=style.flags - set(_UNSET[code]))
        elif 30 <= code <= 37 or 90 <= code <= 97:
            style = replace(style, fg=code - 30 if code < 90 else code - 82)
        elif 40 <= code <= 47 or 100 <= code <= 107:
            style = replace(style, bg=code - 40 if code < 100 else code - 92)
        elif code == 39:
            style = replace(style, fg=None)
        elif code == 49:
            style = replace(style, bg=None)
        elif code in (38, 48):
            colour: tuple[int, int, int] | None = None
            if params[i : i + 1] == [5] and len(params) > i + 1:
                colour, i = _colour_256(min(params[i + 1], 255)), i + 2
            elif params[i : i + 1] == [2] and len(params) > i + 3:
                r, g, b = (min(v, 255) for v in params[i + 1 : i + 4])
                colour, i = (r, g, b), i + 4
            else:
                break  # malformed: ignore the rest, as terminals do
            style = replace(style, fg=colour) if code == 38 else replace(style, bg=colour)
    return style


def to_html(line: str) -> Markup:
    """One log line as safe HTML: text escaped, SGR colours as spans, other escapes gone."""
    out: list[str] = []
    style = _Style()
    pos = 0
    for match in _ESCAPE.finditer(line):
        _text(out, style, line[pos : match.start()])
        pos = match.end()
        if match.group(2) == "m":
            digits = re.split(r"[;:]", match.group(1)) if match.group(1) else ["0"]
            style = _apply(style, [int(d) if d.isdigit() else 0 for d in digits])
    _text(out, style, line[pos:])
    return Markup("".join(out))


def _text(out: list[str], style: _Style, text: str) -> None:
    if text:
        opening, closing = style.span()
        out.append(f"{opening}{escape(text, quote=False)}{closing}")


def strip(line: str) -> str:
    """`line` without its escape sequences (for titles and plain text)."""
    return _ESCAPE.sub("", line)


__all__ = ["strip", "to_html"]
