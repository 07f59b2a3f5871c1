"""The Telegram bot: adapts Telegram updates to core and delivers finished results to chats."""
