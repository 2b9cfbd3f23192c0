"""The top bar and the landing page follow the person's roles: every link shown leads to a page
with something for them, and each role starts where its work is."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def nav_links(client: Client) -> dict[str, str]:
    html = client.get("/my-work/").content.decode()
    nav = NAV.search(html)
    assert nav, "no main navigation"
    # Each link is its icon (aria-hidden) and its label.
    links = re.findall(r'<a href="([^"]+)"[^>]*>(?:<svg.*?</svg>)?([^<]+)</a>', nav[1])
    return {name: href for href, name in links}


def current_links(client: Client, path: str) -> dict[str, str]:
    """The top bar's links marked current on ``path``, with their aria-current value."""
    nav = NAV.search(client.get(path).content.decode())
    assert nav, "no main navigation"
    marked = re.findall(
        r'<a href="[^"]+" aria-current="([^"]+)">(?:<svg.*?</svg>)?([^<]+)</a>', nav[1]
    )
    return {name: value for value, name in marked}


@pytest.mark.parametrize(
    ("username", "landing", "links"),
    [
        ("alice", "/my-work/", {"My work", "Queues", "API tokens"}),
        ("maria", "/board/", {"My work", "Queues", "Board", "Pipeline", "Audit", "API tokens"}),
        ("mel", "/datasets/", {"Datasets", "Pipeline", "Audit", "API tokens"}),
        ("api-client", "/dead-letters/", {"Pipeline", "Audit", "API tokens"}),
    ],
)
def test_each_role_lands_on_its_page_and_sees_only_links_it_can_use(demo, username, landing, links):
    client = signed_in(get_user_model().objects.get(username=username))

    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == landing

    shown = nav_links(client)
    assert set(shown) == links
    for name, href in shown.items():
        assert client.get(href).status_code == 200, f"{name} ({href}) for {username}"


def test_signing_in_lands_a_reviewer_on_my_work(demo):
    client = Client()
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": demo.passwords["alice"]},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/my-work/"
    assert response.status_code == 200


def test_the_home_page_asks_anonymous_visitors_to_sign_in():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_top_bar_marks_the_page_you_are_on_and_its_section(demo, manager):
    client = signed_in(manager)

    assert current_links(client, "/board/") == {"Board": "page"}
    assert current_links(client, f"/board/queues/{demo.queue.pk}/") == {"Board": "true"}
    assert current_links(client, "/audit/") == {"Audit": "page"}
    assert current_links(client, "/account/two-factor/") == {}


def test_each_link_has_an_icon_hidden_from_screen_readers_beside_its_label(demo, manager):
    html = signed_in(manager).get("/board/").content.decode()
    nav = NAV.search(html)
    assert nav
    links = re.findall(r"<a [^>]*>(.*?)</a>", nav[1], re.S)
    assert len(links) == 6
    icon = r'<svg class="icon" [^>]*aria-hidden="true"[^>]*><path d="M[^"]+"/></svg>\w'
    for link in links:
        assert re.match(icon, link), link
