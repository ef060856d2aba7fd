"""Session log-in: clear errors, lock-out after 5 failures (django-axes), unlock, language."""
from django.test import Client

from l2c.identity import services

IP = "203.0.113.10"


def _login(client, username, password, ip=IP):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_login_page_renders(db):
    response = Client().get("/login/")
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_right_password_logs_in(rep):
    client = Client()
    response = _login(client, "rep", "pw-rep")
    assert response.status_code == 302 and response["Location"] == "/"
    assert _logged_in(client)


def test_wrong_password_shows_clear_error(rep):
    client = Client()
    response = _login(client, "rep", "wrong")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="flash flash-error" role="alert"' in html
    assert "Please enter a correct" in html and "password" in html
    assert not _logged_in(client)


def test_inactive_user_cannot_log_in(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, is_active=False)
    client = Client()
    assert _login(client, "rep", "pw-rep").status_code == 200
    assert not _logged_in(client)


def test_sixth_attempt_with_right_password_is_locked_out(rep):
    client = Client()
    for _ in range(5):
        _login(client, "rep", "wrong")
    # when: the right password, too late
    response = _login(client, "rep", "pw-rep")
    # then
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert not _logged_in(client)


def test_lock_out_is_per_user_name_and_address(rep, rep2):
    client = Client()
    for _ in range(5):
        _login(client, "rep", "wrong")
    # another user from the same address, and the same user from another address, still get in
    assert _login(Client(), "rep2", "pw-rep2").status_code == 302
    assert _login(Client(), "rep", "pw-rep", ip="203.0.113.99").status_code == 302


def test_success_resets_the_failure_counter(rep):
    client = Client()
    for _ in range(4):
        _login(client, "rep", "wrong")
    assert _login(client, "rep", "pw-rep").status_code == 302
    client.post("/logout/")
    for _ in range(4):
        _login(client, "rep", "wrong")
    # eight failures in all: only the reset after the success keeps this from a lock-out
    assert _login(client, "rep", "pw-rep").status_code == 302


def test_lock_out_is_visible_to_admin_who_can_unlock(admin_user, rep):
    # given: rep locked out
    for _ in range(5):
        _login(Client(), "rep", "wrong")
    assert _login(Client(), "rep", "pw-rep").status_code == 429
    admin = Client()
    admin.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    assert "rep" in admin.get("/settings/users/").context["locked"]
    page = admin.get(f"/settings/users/{rep.pk}/").content.decode()
    assert f'action="/settings/users/{rep.pk}/unlock/"' in page
    # when: the admin unlocks
    assert admin.post(f"/settings/users/{rep.pk}/unlock/").status_code == 302
    # then
    assert admin.get("/settings/users/").context["locked"] == set()
    client = Client()
    assert _login(client, "rep", "pw-rep").status_code == 302
    assert _logged_in(client)


def test_login_applies_preferred_language(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, language="zh-hans")
    response = _login(Client(), "rep", "pw-rep")
    assert response.cookies["django_language"].value == "zh-hans"


def test_login_without_preference_keeps_the_chosen_language(rep):
    response = _login(Client(), "rep", "pw-rep")
    assert "django_language" not in response.cookies


def test_logged_in_user_is_redirected_from_login(rep):
    client = Client()
    client.force_login(rep, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/login/").status_code == 302
