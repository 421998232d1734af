"""Pictures of simulated receipts: a width-aware text rendering and a thermal-paper PNG.

The PNG draws on the printer's own grid: 12 x 24-dot cells for ANK characters and 24 x 24
for Chinese, 384 dots across for 58 mm paper and 576 for 80 mm, so a layout that does not fit
the real paper does not fit here either. Chinese needs a CJK font (Debian: fonts-wqy-zenhei).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import barcode  # type: ignore[import-untyped]
import qrcode  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont

from device.drivers.errors import DriverError

if TYPE_CHECKING:
    from device.drivers.sim.printer_paper import PrintedLine, PrintedReceipt

CELL_W = 12
CELL_H = 24
LINE_GAP = 6  # ESC 2 default line spacing is 30 dots for a 24-dot font
MARGIN = 16
FONT_FAMILIES = ("WenQuanYi Zen Hei Mono", "Noto Sans Mono CJK SC", "Noto Sans CJK SC")
KNOWN_FONT_PATHS = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 1),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 1),
)


class FontMissing(DriverError):
    """No CJK font is installed, so Chinese receipts cannot be drawn."""


def cjk_font_file() -> tuple[str, int]:
    """(path, face index) of an installed CJK font; FontMissing with the fix when none is."""
    if shutil.which("fc-match"):
        for family in FONT_FAMILIES:
            try:
                out = subprocess.run(
                    ["fc-match", "-f", "%{file}:%{index}:%{lang}", f"{family}:lang=zh-cn"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                ).stdout
            except (OSError, subprocess.SubprocessError):
                break
            path, _, rest = out.partition(":")
            face, _, langs = rest.partition(":")
            if path and os.path.exists(path) and "zh-cn" in langs.split("|"):
                return path, int(face or 0)
    for path, index in KNOWN_FONT_PATHS:
        if os.path.exists(path):
            return path, index
    raise FontMissing(
        "no Chinese (CJK) font found for receipt images; install one with "
        "`apt-get install -y fonts-wqy-zenhei` (or fonts-noto-cjk)"
    )


def _cells_text(line: PrintedLine) -> str:
    out = []
    for run in line.runs:
        for ch, cells in run.chars:
            out.append(ch + " " * (cells * run.wmul - cells))
    return "".join(out)


def render_text(receipt: PrintedReceipt) -> str:
    """The receipt as text on a grid of `width` columns (CJK counts as two)."""
    width = receipt.width
    rows: list[str] = []
    for line in receipt.lines:
        if line.kind == "text":
            body, cells = _cells_text(line), line.cells
        else:
            body = f"[{'QR' if line.kind == 'qr' else 'CODE128'}: {line.data}]"
            cells = len(body)
        pad = {0: 0, 1: (width - cells) // 2, 2: width - cells}[line.align]
        rows.append((" " * max(0, pad) + body).rstrip())
    if receipt.complete:
        rows.append("-" * width + "  (cut)")
    else:
        rows.append("~" * width + f"  (torn: {receipt.reason})")
    return "\n".join(rows) + "\n"


def _draw_text_line(
    image: Image.Image, line: PrintedLine, y: int, dots: int, font: ImageFont.FreeTypeFont
) -> int:
    height = max((run.hmul for run in line.runs), default=1) * CELL_H
    x = {0: 0, 1: (dots - line.cells * CELL_W) // 2, 2: dots - line.cells * CELL_W}[line.align]
    x = max(0, x) + MARGIN
    for run in line.runs:
        for ch, cells in run.chars:
            w, h = cells * CELL_W, CELL_H
            glyph = Image.new("L", (w, h), 255)
            pen = ImageDraw.Draw(glyph)
            pen.text((w / 2, h / 2 + 1), ch, font=font, fill=0, anchor="mm")
            if run.bold:
                pen.text((w / 2 + 1, h / 2 + 1), ch, font=font, fill=0, anchor="mm")
            if run.wmul != 1 or run.hmul != 1:
                glyph = glyph.resize((w * run.wmul, h * run.hmul), Image.Resampling.NEAREST)
            image.paste(glyph, (x, y + height - glyph.height))
            x += glyph.width
    return height + LINE_GAP


def _symbol(line: PrintedLine) -> Image.Image:
    if line.kind == "qr":
        levels = {
            "L": qrcode.constants.ERROR_CORRECT_L,
            "M": qrcode.constants.ERROR_CORRECT_M,
            "Q": qrcode.constants.ERROR_CORRECT_Q,
            "H": qrcode.constants.ERROR_CORRECT_H,
        }
        code = qrcode.QRCode(error_correction=levels[line.ec], box_size=line.module, border=0)
        code.add_data(line.data)
        code.make(fit=True)
        picture: Image.Image = code.make_image(fill_color="black", back_color="white").get_image()
        return picture.convert("L")
    modules = barcode.get("code128", line.data or " ").build()[0]
    image = Image.new("L", (len(modules) * 2, 80), 255)
    pen = ImageDraw.Draw(image)
    for i, bit in enumerate(modules):
        if bit == "1":
            pen.rectangle((i * 2, 0, i * 2 + 1, 79), fill=0)
    return image


def _graphic(line: PrintedLine, dots: int, font: ImageFont.FreeTypeFont) -> Image.Image:
    """The QR code or barcode; a printer skips a symbol it cannot encode or fit, so do we."""
    try:
        image = _symbol(line)
    except Exception as exc:  # qrcode/python-barcode raise assorted types on unencodable data
        return _note(f"[{line.kind} not printable: {type(exc).__name__}]", font)
    if image.width > dots:
        return _note(f"[{line.kind} wider than the paper: not printed]", font)
    return image


def _note(text: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    image = Image.new("L", (min(len(text), 48) * CELL_W, CELL_H), 255)
    ImageDraw.Draw(image).text((0, 1), text[:48], font=font, fill=96)
    return image


def render_png(receipt: PrintedReceipt, font: ImageFont.FreeTypeFont | None = None) -> Image.Image:
    """A picture of the paper: white, black dots, centred header, QR code, cut or torn edge."""
    if font is None:
        path, index = cjk_font_file()
        font = ImageFont.truetype(path, 22, index=index)
    dots = 384 if receipt.width <= 32 else 576
    graphics = {
        i: _graphic(line, dots, font) for i, line in enumerate(receipt.lines) if line.kind != "text"
    }
    height = MARGIN * 2 + 14
    for i, line in enumerate(receipt.lines):
        if line.kind == "text":
            height += max((run.hmul for run in line.runs), default=1) * CELL_H + LINE_GAP
        else:
            height += graphics[i].height + 12
    image = Image.new("L", (dots + 2 * MARGIN, height), 255)
    y = MARGIN
    for i, line in enumerate(receipt.lines):
        if line.kind == "text":
            y += _draw_text_line(image, line, y, dots, font)
            continue
        graphic = graphics[i]
        x = {0: 0, 1: (dots - graphic.width) // 2, 2: dots - graphic.width}[line.align]
        image.paste(graphic, (MARGIN + max(0, x), y + 6))
        y += graphic.height + 12
    y += MARGIN
    pen = ImageDraw.Draw(image)
    if receipt.complete:
        for x in range(0, image.width, 12):
            pen.line((x, y + 6, x + 6, y + 6), fill=0, width=2)
    else:
        # A torn edge: a jagged bottom where the paper ran out.
        points = [(0, y)]
        for i, x in enumerate(range(0, image.width + 10, 10)):
            points.append((x, y + (8 if i % 2 else 0)))
        points += [(image.width, image.height), (0, image.height)]
        pen.polygon(points, fill=200)
    framed = Image.new("RGB", (image.width + 16, image.height + 16), (200, 200, 200))
    framed.paste(image.convert("RGB"), (8, 8))
    return framed


def save_receipt(receipt: PrintedReceipt, directory: str, stem: str) -> tuple[str, str]:
    """Write <stem>.txt and <stem>.png; return (txt path, png path)."""
    os.makedirs(directory, exist_ok=True)
    txt = os.path.join(directory, f"{stem}.txt")
    png = os.path.join(directory, f"{stem}.png")
    with open(txt, "w", encoding="utf-8") as fh:
        fh.write(render_text(receipt))
    # A few grey levels are all a thermal print has; a small palette keeps the file small.
    picture = render_png(receipt).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    picture.save(png, optimize=True)
    return txt, png
