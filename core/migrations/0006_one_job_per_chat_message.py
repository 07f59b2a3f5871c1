"""A chat message makes one job: a unique index on (chat_id, message_id), so a Telegram update
delivered twice cannot charge twice. API jobs have no chat (NULL), and NULLs never collide."""


def apply(database, migrator) -> None:
    database.execute_sql(
        'CREATE UNIQUE INDEX IF NOT EXISTS "jobs_chat_id_message_id" ON "jobs" ("chat_id", "message_id")')
