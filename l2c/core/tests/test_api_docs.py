"""The OpenAPI schema and the interactive docs, served without any remote asset."""
import json
import re

from django.contrib.staticfiles import finders


def test_openapi_json_lists_the_paths(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ("/api/v1/me", "/api/v1/tokens", "/api/v1/tokens/{token_id}/revoke", "/api/v1/users",
                 "/api/v1/users/{user_id}", "/api/v1/teams"):
        assert path in paths, path
    assert {"post", "get"} <= set(paths["/api/v1/users"])
    assert "patch" in paths["/api/v1/users/{user_id}"]
    assert {"BearerToken", "SessionAuth"} <= set(schema["components"]["securitySchemes"])


def test_docs_render_with_local_assets_only(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="swagger-ui"' in html
    urls = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', html)
    assert any(u.endswith("swagger-ui-bundle.js") for u in urls)
    assert any(u.endswith("swagger-ui.css") for u in urls)
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"remote asset {url}"
        assert url.startswith("/static/"), url
    # no CDN host anywhere (a host name has a dot after "cdn…"; the page's random CSRF token may contain "cdn")
    assert not re.search(r"cdn[\w-]*\.[a-z]", html.lower())


def test_docs_assets_are_served_from_our_static_files():
    for name in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"):
        assert finders.find(name), name
