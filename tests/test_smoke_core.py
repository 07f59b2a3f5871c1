from core import accounts, billing, jobs


def test_signup_then_job_on_both_backends(settings, storage, memory_queue, backend):
    user, created = accounts.register_telegram_user(42, signup_bonus=3)
    assert created
    from PIL import Image
    import io
    buf = io.BytesIO()
    Image.new("RGB", (10, 10), "red").save(buf, "PNG")
    job = jobs.submit_job(user.id, buf.getvalue(), {"mode": "png"}, settings=settings, storage=storage,
                          queue=memory_queue)
    assert billing.balance(user.id).total == 2
    assert memory_queue.depth("input_queue") == 1
    assert jobs.fail_job(job.id, "boom")
    assert billing.balance(user.id).total == 3
