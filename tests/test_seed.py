"""The demo data command: a fresh database gets authors and spread-out posts, a rerun
adds more, the printed password signs in, and bad counts are refused."""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, select

import seed
from accounts.usernames import clean_username
from content.markdown_render import render_html
from database import sync_url
from models import Post, User, fold
from schemas import PostCreate
from tests.databases import fresh_database
from tests.helpers import login, register, settings_changed


def run_seed(argv: list[str]) -> None:
    """`python -m seed ...`, in a thread of its own: the command starts its own event
    loop, which a thread already running one (Playwright's, in a full run) refuses."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(seed.main, argv).result()


def read_all(database_url: str) -> tuple[list[User], list[Post]]:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            users = connection.execute(select(User).order_by(User.id)).all()
            posts = connection.execute(select(Post).order_by(Post.id)).all()
        return users, posts
    finally:
        engine.dispose()


@pytest.fixture
def new_database(tmp_path) -> Iterator[str]:
    """A database that does not exist yet, as on a fresh checkout (the command's)."""
    with fresh_database(tmp_path) as url, settings_changed(database_url=url):
        yield url


def test_a_fresh_database_gets_authors_and_spread_out_posts(new_database):
    run_seed(["--posts", "60", "--authors", "5", "--seed", "1"])
    users, posts = read_all(new_database)
    assert len(users) == 5
    assert len({user.username for user in users}) == 5
    assert all(user.email.endswith("@example.com") for user in users)
    assert len(posts) == 60
    assert {post.user_id for post in posts} == {user.id for user in users}
    dates = [post.date_posted for post in posts]
    assert len(set(dates)) == len(dates)
    assert dates == sorted(dates)  # written oldest first, so ids follow dates
    assert len({post.title for post in posts}) > 10
    for post in posts:
        assert "\n\n" in post.content  # paragraphs
        PostCreate(title=post.title, content=post.content)  # what the API would accept
        # A bulk insert skips the model's hook; the seed renders as the model would.
        assert post.content_html == render_html(post.content)
        assert post.content_html.startswith("<p>")


def test_demo_authors_have_names_the_app_accepts():
    authors = seed.demo_authors(seed.MAX_AUTHORS)
    assert len({fold(a.username) for a in authors}) == seed.MAX_AUTHORS
    assert len({a.email for a in authors}) == seed.MAX_AUTHORS
    for author in authors:
        assert clean_username(author.username) == author.username
        assert re.fullmatch(r"[a-z]+\.[a-z]+@example\.com", author.email), author.email


def test_the_same_seed_writes_the_same_text(tmp_path):
    texts = []
    for run, chosen in enumerate(["7", "7", "8"]):
        (tmp_path / str(run)).mkdir()
        with fresh_database(tmp_path / str(run)) as url, settings_changed(database_url=url):
            run_seed(["--posts", "20", "--seed", chosen])
            texts.append([(post.title, post.content, post.user_id) for post in read_all(url)[1]])
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_a_rerun_reuses_the_authors_and_adds_posts(new_database):
    run_seed(["--posts", "15", "--authors", "3"])
    first_users, first_posts = read_all(new_database)
    run_seed(["--posts", "15", "--authors", "3"])
    users, posts = read_all(new_database)
    assert len(posts) == 30
    assert [user.id for user in users] == [user.id for user in first_users]
    # New text, not the first run's again.
    assert [p.content for p in posts[15:]] != [p.content for p in first_posts]
    run_seed(["--posts", "1", "--authors", "4"])
    users, _ = read_all(new_database)
    assert [user.id for user in users[:3]] == [user.id for user in first_users]
    assert len(users) == 4


def test_a_demo_name_taken_by_someone_else_is_skipped(client, capsys):
    (taken,) = seed.demo_authors(1)
    assert register(client, taken.username, "someone@elsewhere.example").status_code == 201
    run_seed(["--posts", "5", "--authors", "2"])
    printed = capsys.readouterr().out
    assert taken.email not in printed
    assert seed.demo_authors(2)[1].email in printed


def test_a_seeded_author_signs_in_and_the_posts_show_newest_first(client, capsys):
    run_seed(["--posts", "30", "--authors", "3"])
    printed = capsys.readouterr().out
    password = re.search(r"password '([^']+)'", printed).group(1)
    emails = re.findall(r"^\s+(\S+@example\.com)", printed, flags=re.MULTILINE)
    assert len(emails) == 3
    signed_in = login(client, emails[0], password)
    assert signed_in.status_code == 200, signed_in.text
    assert "access_token" in signed_in.json()
    assert login(client, emails[0], "not-the-demo-password").status_code == 401

    posts = client.get("/api/posts", params={"limit": 100}).json()["items"]
    assert len(posts) == 30
    positions = [(post["date_posted"], post["id"]) for post in posts]
    assert positions == sorted(positions, reverse=True)
    home = client.get("/").text
    assert posts[0]["title"] in home
    assert home.index(f'"{posts[0]["url"]}"') < home.index(f'"{posts[1]["url"]}"')


def test_seeded_posts_are_tagged_with_their_topic_and_shelf(client):
    run_seed(["--posts", "40", "--authors", "2"])
    posts = client.get("/api/posts", params={"limit": 100}).json()["items"]
    shelves = set(seed.SHELVES)
    for post in posts:
        assert len(post["tags"]) == 2
        assert len(shelves.intersection(post["tags"])) == 1
    tags = client.get("/api/tags").json()
    assert sum(tag["count"] for tag in tags) == 80
    busiest = tags[0]["name"]
    page = client.get(f"/tags/{busiest}")
    assert page.status_code == 200
    assert f"#{busiest}" in page.text


def test_every_topic_has_a_shelf():
    assert set(seed.SHELF_OF) == set(seed.TOPICS)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("--posts", "0"), ("--posts", "-5"), ("--posts", "many"), ("--authors", "0")],
)
def test_bad_counts_are_refused_clearly(argument, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_seed([argument, value])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {argument}:" in error
    assert value in error
