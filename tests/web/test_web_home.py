"""The landing page renders from the package's templates and static files."""

from __future__ import annotations


def test_home_page_links_to_the_api(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in page.text and "plaudit is running" in page.text
    css = client.get("/static/plaudit.css")
    assert css.status_code == 200 and "font" in css.text


def test_doubled_slashes_reach_the_route(client, org):
    """A LOG10_URL with a trailing slash makes the log10 client request //api/...; it works."""
    response = client.get("http://testserver//api/v1/feedback_task", headers=org.headers)
    assert response.status_code == 200 and response.json()["total"] == 0
