"""The bot's texts as Telegram shows them: its HTML and Markdown parse modes, links and /commands."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

AUTO_LINK = re.compile(r"(https?://[^\s<]+)|((?<![\w/])/[A-Za-z0-9_]{1,32}(?:@\w+)?)")


def linkify(escaped: str) -> str:
    """Links and /commands in already escaped text coloured as Telegram's clients show them."""
    return AUTO_LINK.sub(lambda m: f'<span class="link">{m.group(0)}</span>', escaped)


class TelegramHtml:
    """The Bot API's HTML parse mode: its few tags kept, everything else shown as text."""

    TAGS = {"b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u", "s": "s", "strike": "s",
            "del": "s", "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-spoiler": "span",
            "span": "span", "a": "a", "tg-emoji": "span"}

    @classmethod
    def render(cls, source: str) -> str:
        out: list[str] = []
        plain = [0]  # depth inside <a>/<code>/<pre>, where Telegram detects no links

        class Parser(HTMLParser):
            def handle_starttag(self, tag: str, attrs: list) -> None:
                if tag not in cls.TAGS:
                    return
                attributes = dict(attrs)
                if tag == "a":
                    out.append(f'<a class="link" href="{html.escape(attributes.get("href") or "")}">')
                elif tag == "tg-spoiler" or attributes.get("class") == "tg-spoiler":
                    out.append('<span class="spoiler">')
                else:
                    out.append(f"<{cls.TAGS[tag]}>")
                plain[0] += tag in ("a", "code", "pre")

            def handle_endtag(self, tag: str) -> None:
                if tag in cls.TAGS:
                    out.append(f"</{cls.TAGS[tag]}>")
                    plain[0] -= tag in ("a", "code", "pre")

            def handle_data(self, data: str) -> None:
                escaped = html.escape(data)
                out.append(escaped if plain[0] else linkify(escaped))

        parser = Parser(convert_charrefs=True)
        parser.feed(source)
        parser.close()
        return "".join(out)


MARKDOWN = re.compile(
    r"```(?:[\w+-]*\n)?(?P<pre>.*?)```|`(?P<code>[^`]+)`|\[(?P<label>[^\]]+)\]\((?P<href>[^)]+)\)"
    r"|\*(?P<b>[^*]+)\*|__(?P<u>[^_]+)__|_(?P<i>[^_]+)_|~(?P<s>[^~]+)~|\|\|(?P<spoiler>.+?)\|\|",
    re.DOTALL)


def render_markdown(source: str, v2: bool) -> str:
    """The Bot API's Markdown and MarkdownV2 parse modes, one level deep (all the bot would need)."""
    def plain(text: str) -> str:
        return linkify(html.escape(re.sub(r"\\(.)", r"\1", text) if v2 else text))

    out, last = [], 0
    for match in MARKDOWN.finditer(source):
        kind = match.lastgroup
        if not v2 and kind in ("u", "s", "spoiler"):  # MarkdownV2 only
            continue
        out.append(plain(source[last:match.start()]))
        last = match.end()
        if kind == "pre":
            out.append(f"<pre>{html.escape(match['pre'])}</pre>")
        elif kind == "code":
            out.append(f"<code>{html.escape(match['code'])}</code>")
        elif kind in ("label", "href"):
            out.append(f'<a class="link" href="{html.escape(match["href"])}">{plain(match["label"])}</a>')
        else:
            tag = {"spoiler": 'span class="spoiler"'}.get(kind, kind)
            out.append(f"<{tag}>{plain(match[kind])}</{tag.split()[0]}>")
    out.append(plain(source[last:]))
    return "".join(out)


def render_text(source: str | None, parse_mode: str | None) -> str:
    """A text or caption as the bot asked Telegram to show it."""
    if not source:
        return ""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return TelegramHtml.render(source)
    if mode in ("markdown", "markdownv2"):
        return render_markdown(source, v2=mode == "markdownv2")
    return linkify(html.escape(source))
