"""The texts about what came in (animations, photos Telegram made smaller, a photo taken while
the database went away), in English and Russian (merged into bot.texts' catalogue)."""

from __future__ import annotations

EN: dict[str, str] = {
    "status_queued_later": "It's in line; the result will come here.",
    "first_frame_only": "It's an animation: I cut out its first frame.",
    "send_as_file_tip": "Tip: Telegram makes photos smaller. Send the photo as a file (📎 → File) to get the "
                        "cut-out at full resolution.",
}

RU: dict[str, str] = {
    "status_queued_later": "Фото в очереди; результат придёт сюда.",
    "first_frame_only": "Это анимация: я вырезаю её первый кадр.",
    "send_as_file_tip": "Совет: Telegram уменьшает фото. Пришлите фото файлом (📎 → Файл), чтобы получить "
                        "вырезку в полном разрешении.",
}
