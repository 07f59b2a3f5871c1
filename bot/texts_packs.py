"""The texts of albums, sticker packs, product shots and a pause of the service, in English and
Russian (merged into bot.texts' catalogue)."""

from __future__ import annotations

EN: dict[str, str] = {
    "cmd_stickers": "Your sticker packs",
    "opt_shot": "Product shot",
    "opt_picture": "On a picture…",
    "render_picture_prompt": "Send me the photo to put behind it.",
    # Albums
    "album_received": "Got your album of {count} photos.",
    "album_progress": "Album: {done} of {taken} done.",
    "album_progress_failed": "Album: {done} of {taken} done, {failed} failed (their credits are back).",
    "album_all_done": "Album: all {taken} done ✅",
    "album_none_taken": "None of the album's photos could be taken.",
    "album_skipped": "Skipped {count} of your {photos} photos ({numbers}): you have {total} credits and each "
                     "photo costs {price}, so nothing was charged for them. Buy more with /buy and send them "
                     "again.",
    "album_too_big": "An album holds at most {limit} photos; photos {numbers} were left out.",
    "album_refused": "Photo {number}: {reason}",
    "album_failed_photo": "This photo failed: {reason}. Its credits are back.",
    # Sticker packs
    "opt_add_to_pack": "➕ Add to my sticker pack",
    "opt_remove_from_pack": "➖ Remove from my sticker pack",
    "pack_title": "{name}'s cut-outs",
    "pack_added": "Added to your sticker pack “{title}” with {emoji}: {link}\n"
                  "Send me another emoji to change it (your next stickers get it too).",
    "pack_already": "This sticker is in your pack already.",
    "pack_removed": "Removed from your sticker pack.",
    "pack_emoji_changed": "Done: that sticker now has {emoji}, and so will your next ones.",
    "pack_emoji_default": "Your next stickers get {emoji}.",
    "pack_list": "Your sticker packs (tap to add one to Telegram):\n{sets}",
    "pack_list_item": "{title}: {count} stickers, {link}",
    "pack_none": "You have no sticker pack yet. Choose “Sticker” under a result (or in /settings), then tap "
                 "“Add to my sticker pack”.",
    "pack_not_a_sticker": "Only a sticker can go into your pack; tap “Sticker” first.",
    "pack_not_yours": "That is not your sticker.",
    "pack_not_found": "That sticker is not in your pack any more.",
    "pack_gone": "This photo is no longer stored; send it again to make a new sticker.",
    "pack_slow_down": "Telegram asks me to slow down; try again in {seconds} seconds.",
    "pack_bad_file": "Telegram did not accept this sticker's file ({reason}).",
    "pack_bad_emoji": "Telegram does not accept {emoji} as a sticker's emoji; try another.",
    "pack_refused": "Telegram refused that: {reason}. Try again later.",
    "pack_unreachable": "I cannot reach Telegram right now; try again in a minute.",
    # The database is away for a moment (core.errors.DatabaseUnavailable)
    "unavailable": "Cutout is briefly unavailable; please send it again in a minute.",
}

RU: dict[str, str] = {
    "cmd_stickers": "Ваши стикерпаки",
    "opt_shot": "Для витрины",
    "opt_picture": "На фоне фото…",
    "render_picture_prompt": "Пришлите фото, которое поставить фоном.",
    "album_received": "Альбом из {count} фото получен.",
    "album_progress": "Альбом: готово {done} из {taken}.",
    "album_progress_failed": "Альбом: готово {done} из {taken}, не получилось {failed} (кредиты за них "
                             "возвращены).",
    "album_all_done": "Альбом: готовы все {taken} ✅",
    "album_none_taken": "Ни одно фото альбома не удалось принять.",
    "album_skipped": "Пропущено {count} из {photos} фото ({numbers}): у вас {total} кредитов, а фото стоит "
                     "{price}, поэтому за них ничего не списано. Купите кредиты в /buy и пришлите их снова.",
    "album_too_big": "В альбоме не больше {limit} фото; фото {numbers} не приняты.",
    "album_refused": "Фото {number}: {reason}",
    "album_failed_photo": "Это фото не получилось: {reason}. Кредиты возвращены.",
    "opt_add_to_pack": "➕ В мой стикерпак",
    "opt_remove_from_pack": "➖ Убрать из стикерпака",
    "pack_title": "Вырезки: {name}",
    "pack_added": "Добавлено в ваш стикерпак «{title}» с {emoji}: {link}\n"
                  "Пришлите другой эмодзи, чтобы сменить его (и для следующих стикеров).",
    "pack_already": "Этот стикер уже в вашем паке.",
    "pack_removed": "Убрано из стикерпака.",
    "pack_emoji_changed": "Готово: у стикера теперь {emoji}, и у следующих тоже.",
    "pack_emoji_default": "Ваши следующие стикеры получат {emoji}.",
    "pack_list": "Ваши стикерпаки (нажмите, чтобы добавить в Telegram):\n{sets}",
    "pack_list_item": "{title}: стикеров {count}, {link}",
    "pack_none": "Стикерпака пока нет. Выберите «Стикер» под результатом (или в /settings), затем нажмите "
                 "«В мой стикерпак».",
    "pack_not_a_sticker": "В пак можно добавить только стикер; сначала нажмите «Стикер».",
    "pack_not_yours": "Это не ваш стикер.",
    "pack_not_found": "Этого стикера уже нет в вашем паке.",
    "pack_gone": "Это фото больше не хранится; пришлите его снова, чтобы сделать стикер.",
    "pack_slow_down": "Telegram просит подождать; попробуйте через {seconds} с.",
    "pack_bad_file": "Telegram не принял файл стикера ({reason}).",
    "pack_bad_emoji": "Telegram не принимает {emoji} как эмодзи стикера; попробуйте другой.",
    "pack_refused": "Telegram отказал: {reason}. Попробуйте позже.",
    "pack_unreachable": "Не могу связаться с Telegram; попробуйте через минуту.",
    "unavailable": "Cutout ненадолго недоступен; пришлите это ещё раз через минуту.",
}
