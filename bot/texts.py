"""Every text the bot sends, in English and Russian, from one catalogue."""

from __future__ import annotations

from bot import texts_inputs as inputs
from bot import texts_packs as packs
from core.images import FORMAT_LABELS

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"

EN: dict[str, str] = {
    # Commands menu
    "cmd_start": "Start and see your balance",
    "cmd_help": "How to use the bot",
    "cmd_balance": "Your credits",
    "cmd_history": "Recent photos and payments",
    "cmd_buy": "Buy credits with Telegram Stars",
    "cmd_settings": "Output: PNG, sticker, colour, crop",
    "cmd_cancel": "Cancel photos waiting in line",
    "cmd_apikey": "A personal REST API key",
    "cmd_web": "Sign in to the web page",
    "cmd_paysupport": "Payment help and refunds",
    # Start and help
    "start_new": "Hi, {name}! I remove the background from photos.\n\n"
                 "You got {bonus} free credits to try it. Balance: {total} credits.\n\n{usage}",
    "start_again": "Welcome back, {name}! Balance: {total} credits.\n\n{usage}",
    "usage": "Send me a photo, or an image as a file for full quality, and I send back the subject "
             "without its background. Each photo costs {price} credit(s).\n"
             "/settings: transparent PNG, sticker or a colour behind the subject\n"
             "/buy: more credits · /balance · /history · /cancel · /help",
    "help": "How it works:\n"
            "1. Send a photo (or an album of up to 10, or an image file: PNG, JPEG, WebP...).\n"
            "2. I reply with its place in line and update that message as it goes.\n"
            "3. You get the result as a file (so transparency survives) or as a sticker.\n\n"
            "Each photo costs {price} credit(s); a photo that fails costs nothing.\n\n"
            "/settings: output (transparent PNG, sticker, colour behind the subject, crop)\n"
            "/balance: your credits · /history: recent photos and payments\n"
            "/buy: credits for Telegram Stars · /paysupport: payment help\n"
            "/cancel: cancel photos waiting in line (credits come back)\n"
            "/stickers: your sticker packs (a sticker result has \"Add to my sticker pack\")\n"
            "/apikey: a key for the REST API · /web: sign in to the web page",
    "text_hint": "Send me a photo and I'll remove its background. /help explains the rest.",
    "unknown_command": "I don't know that command. /help lists what I can do.",
    # Credits
    "balance": "Balance: {total} credits ({bonus} bonus + {paid} paid). One photo costs {price}.",
    "history_empty": "Nothing here yet: send me a photo.",
    "history_jobs": "Recent photos:",
    "history_job": "{date} · {name} · {status}",
    "history_photo": "photo",
    "history_ledger": "Credits:",
    "history_entry": "{date} · {amount:+d} {bucket} · {kind}",
    "job_queued": "queued",
    "job_processing": "processing",
    "job_done": "done",
    "job_failed": "failed, refunded",
    "job_cancelled": "cancelled, refunded",
    "kind_signup_bonus": "welcome bonus",
    "kind_topup": "purchase",
    "kind_charge": "photo",
    "kind_refund": "refund",
    "kind_adjustment": "correction",
    "kind_payment_refund": "refund of a purchase",
    "bucket_bonus": "bonus",
    "bucket_paid": "paid",
    # Buying
    "buy_choose": "Choose a package. You pay in Telegram Stars; credits are added right away.",
    "buy_button": "{credits} credits · {stars} ⭐",
    "buy_credits_button": "Buy credits",
    "invoice_title": "{credits} credits",
    "invoice_description": "{credits} background removals in Cutout.",
    "invoice_label": "{credits} credits",
    "package_gone": "This package is no longer offered. Choose again: /buy",
    "checkout_unknown_package": "This offer has changed. Please open /buy again.",
    "checkout_blocked": "Your account is blocked, so it cannot buy credits.",
    "checkout_no_user": "Please send /start first.",
    "payment_done": "Thank you! {credits} credits added. Balance: {total} credits.",
    "payment_reconciled": "Your payment {charge_id} is in: {credits} credits added. Balance: {total} credits.",
    "payment_refunded": "Your payment {charge_id} was refunded; {credits} credits were taken back.",
    "payment_unknown": "Your payment arrived but I could not match it to a package. "
                       "Write to /paysupport and keep this id: {charge_id}",
    "payment_pending": "Your payment arrived, but I could not add the credits just now. They will be added; "
                       "if they are not on /balance within a day, write to /paysupport with this id: {charge_id}",
    "paysupport": "Payments and refunds\n\n"
                  "Credits are paid in Telegram Stars and are added as soon as the payment goes through; "
                  "/balance shows them and /history lists every purchase.\n\n"
                  "A photo that fails, or that you /cancel before it starts, costs nothing: its credit "
                  "comes back by itself.\n\n"
                  "To get Stars back for a purchase whose credits you have not used, reply here with the "
                  "date and amount within 30 days; we refund it through Telegram and remove those credits.",
    # Settings
    "settings": "Output for your next photos: {summary}.",
    "summary_png": "transparent PNG",
    "summary_sticker": "sticker",
    "summary_mask": "black-and-white mask",
    "summary_color": "colour {color} behind the subject",
    "summary_crop_on": "cropped to the subject",
    "summary_crop_off": "not cropped",
    "opt_png": "Transparent PNG",
    "opt_sticker": "Sticker",
    "opt_white": "White background",
    "opt_colors": "Other colour…",
    "opt_mask": "Mask",
    "opt_crop_on": "Crop: on",
    "opt_crop_off": "Crop: off",
    "opt_back": "« Back",
    "colors_title": "Choose the colour behind the subject:",
    "color_#ffffff": "White",
    "color_#000000": "Black",
    "color_#808080": "Grey",
    "color_#e53935": "Red",
    "color_#43a047": "Green",
    "color_#1e88e5": "Blue",
    "color_#fdd835": "Yellow",
    "color_#ec407a": "Pink",
    # Photos
    "received": "Got it, fetching the photo…",
    "status_queued": "In line: #{position}. I'll update this message.",
    "status_processing": "Removing the background…",
    "status_done": "Done ✅",
    "status_failed": "Failed: {reason}. Your credits were refunded.",
    "status_cancelled": "Cancelled. Your credits were refunded.",
    "failed_reason": "the photo could not be processed",
    "too_large": "This file is {size} MB; I can take files up to {limit} MB. "
                 "Send a smaller image, or send it as a photo.",
    "no_credits": "Not enough credits: a photo costs {price} and you have {total}. Buy more to go on.",
    "blocked": "Your account is blocked, so I can't process photos. Write to /paysupport if this is a mistake.",
    "too_many_jobs": "You already have {limit} photos in progress. Send this one again when one is done.",
    "invalid_image": "I can't read this image. Send {formats}.",
    "formats": "{first} or {last}",
    "image_too_large": "This image is too big: at most {megapixels} megapixels and {limit} MB.",
    "invalid_options": "Your output settings are not valid any more; choose again with /settings.",
    "not_an_image": "That file is not an image. Send a photo or an image file ({formats}).",
    "unsupported": "I only work with photos and image files. Send me a photo.",
    "download_failed": "I couldn't fetch this photo from Telegram. Please send it again.",
    "try_again": "Something went wrong on my side. Please try again in a minute.",
    "result_caption": "Background removed.",
    "opt_hex": "Send a hex code…",
    "render_hex_prompt": "Send the colour as a hex code, like #1e88e5.",
    "render_not_sent": "I could not send that file; nothing was charged. Try again.",
    "render_job_not_found": "That is not one of your photos.",
    "render_job_not_ready": "That photo is not ready yet.",
    "render_render_unavailable": "That photo was made before results could be changed; send it again.",
    "render_result_gone": "That photo is no longer stored; send it again (nothing was charged).",
    "render_too_many_renders": "That photo has been changed too often; wait a minute or send it again.",
    "render_insufficient_credits": "Not enough credits for that change. /buy adds more.",
    # Cancel, API key, web
    "cancelled": "Cancelled {count} photo(s) waiting in line; their credits were refunded.",
    "nothing_to_cancel": "No photos are waiting in line.",
    "apikey": "Your personal API key (shown once; keep it secret). A new /apikey revokes this one.\n\n"
              "<code>{api_key}</code>\n\nSend it as <code>Authorization: Bearer …</code> to {url}/api/v1/",
    "web": "Open this link within 10 minutes to sign in to the web page (it works once):\n{url}",
    "account_blocked": "Your account is blocked.",
}

RU: dict[str, str] = {
    "cmd_start": "Начать и посмотреть баланс",
    "cmd_help": "Как пользоваться ботом",
    "cmd_balance": "Ваши кредиты",
    "cmd_history": "Последние фото и платежи",
    "cmd_buy": "Купить кредиты за Telegram Stars",
    "cmd_settings": "Результат: PNG, стикер, цвет, обрезка",
    "cmd_cancel": "Отменить фото в очереди",
    "cmd_apikey": "Личный ключ REST API",
    "cmd_web": "Войти на веб-страницу",
    "cmd_paysupport": "Помощь с оплатой и возвраты",
    "start_new": "Привет, {name}! Я убираю фон с фотографий.\n\n"
                 "Вам начислено {bonus} бесплатных кредитов. Баланс: {total} кредитов.\n\n{usage}",
    "start_again": "С возвращением, {name}! Баланс: {total} кредитов.\n\n{usage}",
    "usage": "Пришлите фото или картинку файлом (так качество лучше), и я верну объект без фона. "
             "Одно фото стоит {price} кредит(а).\n"
             "/settings: прозрачный PNG, стикер или цветной фон\n"
             "/buy: купить кредиты · /balance · /history · /cancel · /help",
    "help": "Как это работает:\n"
            "1. Пришлите фото (или альбом до 10 фото, или файл: PNG, JPEG, WebP...).\n"
            "2. Я отвечу, какое оно в очереди, и буду обновлять это сообщение.\n"
            "3. Результат придёт файлом (чтобы сохранилась прозрачность) или стикером.\n\n"
            "Одно фото стоит {price} кредит(а); если обработка не удалась, кредит возвращается.\n\n"
            "/settings: результат (прозрачный PNG, стикер, цветной фон, обрезка)\n"
            "/balance: ваши кредиты · /history: последние фото и платежи\n"
            "/buy: кредиты за Telegram Stars · /paysupport: помощь с оплатой\n"
            "/cancel: отменить фото в очереди (кредиты вернутся)\n"
            "/stickers: ваши стикерпаки (у стикера есть кнопка «В мой стикерпак»)\n"
            "/apikey: ключ для REST API · /web: вход на веб-страницу",
    "text_hint": "Пришлите фото, и я уберу фон. /help расскажет остальное.",
    "unknown_command": "Я не знаю такой команды. /help покажет, что я умею.",
    "balance": "Баланс: {total} кредитов ({bonus} бонусных + {paid} купленных). Одно фото стоит {price}.",
    "history_empty": "Здесь пока пусто: пришлите фото.",
    "history_jobs": "Последние фото:",
    "history_job": "{date} · {name} · {status}",
    "history_photo": "фото",
    "history_ledger": "Кредиты:",
    "history_entry": "{date} · {amount:+d} {bucket} · {kind}",
    "job_queued": "в очереди",
    "job_processing": "обрабатывается",
    "job_done": "готово",
    "job_failed": "ошибка, возвращено",
    "job_cancelled": "отменено, возвращено",
    "kind_signup_bonus": "приветственный бонус",
    "kind_topup": "покупка",
    "kind_charge": "фото",
    "kind_refund": "возврат",
    "kind_adjustment": "корректировка",
    "kind_payment_refund": "возврат покупки",
    "bucket_bonus": "бонусных",
    "bucket_paid": "купленных",
    "buy_choose": "Выберите пакет. Оплата в Telegram Stars, кредиты начисляются сразу.",
    "buy_button": "{credits} кредитов · {stars} ⭐",
    "buy_credits_button": "Купить кредиты",
    "invoice_title": "{credits} кредитов",
    "invoice_description": "{credits} удалений фона в Cutout.",
    "invoice_label": "{credits} кредитов",
    "package_gone": "Этого пакета больше нет. Выберите снова: /buy",
    "checkout_unknown_package": "Предложение изменилось. Откройте /buy ещё раз.",
    "checkout_blocked": "Ваш аккаунт заблокирован, покупка кредитов недоступна.",
    "checkout_no_user": "Сначала отправьте /start.",
    "payment_done": "Спасибо! Начислено {credits} кредитов. Баланс: {total} кредитов.",
    "payment_reconciled": "Платёж {charge_id} получен: начислено {credits} кредитов. Баланс: {total} кредитов.",
    "payment_refunded": "Платёж {charge_id} возвращён; списано {credits} кредитов.",
    "payment_unknown": "Платёж получен, но я не нашёл его пакет. Напишите в /paysupport и сохраните "
                       "этот номер: {charge_id}",
    "payment_pending": "Платёж получен, но начислить кредиты сейчас не удалось. Они будут начислены; если их "
                       "нет в /balance в течение суток, напишите в /paysupport, указав этот номер: {charge_id}",
    "paysupport": "Оплата и возвраты\n\n"
                  "Кредиты оплачиваются в Telegram Stars и начисляются сразу после оплаты; "
                  "/balance покажет их, а /history перечислит все покупки.\n\n"
                  "Фото, которое не удалось обработать или которое вы отменили (/cancel) до начала "
                  "обработки, ничего не стоит: кредит возвращается сам.\n\n"
                  "Чтобы вернуть Stars за покупку, кредиты которой вы не потратили, ответьте здесь "
                  "в течение 30 дней, указав дату и сумму; мы вернём их через Telegram и спишем эти кредиты.",
    "settings": "Результат для следующих фото: {summary}.",
    "summary_png": "прозрачный PNG",
    "summary_sticker": "стикер",
    "summary_mask": "чёрно-белая маска",
    "summary_color": "цвет {color} за объектом",
    "summary_crop_on": "с обрезкой по объекту",
    "summary_crop_off": "без обрезки",
    "opt_png": "Прозрачный PNG",
    "opt_sticker": "Стикер",
    "opt_white": "Белый фон",
    "opt_colors": "Другой цвет…",
    "opt_mask": "Маска",
    "opt_crop_on": "Обрезка: вкл",
    "opt_crop_off": "Обрезка: выкл",
    "opt_back": "« Назад",
    "colors_title": "Выберите цвет фона за объектом:",
    "color_#ffffff": "Белый",
    "color_#000000": "Чёрный",
    "color_#808080": "Серый",
    "color_#e53935": "Красный",
    "color_#43a047": "Зелёный",
    "color_#1e88e5": "Синий",
    "color_#fdd835": "Жёлтый",
    "color_#ec407a": "Розовый",
    "received": "Получил, загружаю фото…",
    "status_queued": "В очереди: №{position}. Я обновлю это сообщение.",
    "status_processing": "Убираю фон…",
    "status_done": "Готово ✅",
    "status_failed": "Не получилось: {reason}. Кредиты возвращены.",
    "status_cancelled": "Отменено. Кредиты возвращены.",
    "failed_reason": "фото не удалось обработать",
    "too_large": "Файл весит {size} МБ, а я принимаю файлы до {limit} МБ. "
                 "Пришлите картинку поменьше или отправьте её как фото.",
    "no_credits": "Недостаточно кредитов: фото стоит {price}, у вас {total}. Купите ещё, чтобы продолжить.",
    "blocked": "Ваш аккаунт заблокирован, обработка фото недоступна. Если это ошибка, напишите в /paysupport.",
    "too_many_jobs": "У вас уже {limit} фото в работе. Пришлите это фото снова, когда одно будет готово.",
    "invalid_image": "Не удаётся прочитать картинку. Пришлите {formats}.",
    "formats": "{first} или {last}",
    "image_too_large": "Картинка слишком большая: не больше {megapixels} мегапикселей и {limit} МБ.",
    "invalid_options": "Настройки результата больше не подходят; выберите их снова в /settings.",
    "not_an_image": "Этот файл не картинка. Пришлите фото или файл изображения ({formats}).",
    "unsupported": "Я работаю только с фото и файлами изображений. Пришлите фото.",
    "download_failed": "Не удалось получить фото от Telegram. Пришлите его ещё раз.",
    "try_again": "У меня что-то пошло не так. Попробуйте ещё раз через минуту.",
    "result_caption": "Фон удалён.",
    "opt_hex": "Прислать hex-код…",
    "render_hex_prompt": "Пришлите цвет hex-кодом, например #1e88e5.",
    "render_not_sent": "Не удалось отправить файл; ничего не списано. Попробуйте ещё раз.",
    "render_job_not_found": "Это не ваше фото.",
    "render_job_not_ready": "Это фото ещё не готово.",
    "render_render_unavailable": "Это фото сделано раньше, чем появились кнопки; пришлите его снова.",
    "render_result_gone": "Это фото больше не хранится; пришлите его снова (ничего не списано).",
    "render_too_many_renders": "Это фото меняли слишком часто; подождите минуту или пришлите снова.",
    "render_insufficient_credits": "Не хватает кредитов. /buy добавит ещё.",
    "cancelled": "Отменено фото в очереди: {count}; кредиты возвращены.",
    "nothing_to_cancel": "В очереди нет фото.",
    "apikey": "Ваш личный ключ API (показывается один раз, храните его в секрете). "
              "Новый /apikey отзывает этот.\n\n<code>{api_key}</code>\n\n"
              "Передавайте его как <code>Authorization: Bearer …</code> на {url}/api/v1/",
    "web": "Откройте ссылку в течение 10 минут, чтобы войти на веб-страницу (она работает один раз):\n{url}",
    "account_blocked": "Ваш аккаунт заблокирован.",
}

for extra in (packs, inputs):
    EN.update(extra.EN)
    RU.update(extra.RU)
CATALOGUE: dict[str, dict[str, str]] = {"en": EN, "ru": RU}


def text(language: str, key: str, /, **values: object) -> str:
    """The message `key` in `language` (English when that language lacks it), filled with `values`."""
    template = CATALOGUE.get(language, EN).get(key) or EN[key]
    return template.format(**values) if values else template


def formats(language: str) -> str:
    """The formats the bot reads, as core lists them, in `language`."""
    return text(language, "formats", first=", ".join(FORMAT_LABELS[:-1]), last=FORMAT_LABELS[-1])
