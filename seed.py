"""Demo content for trying Inkwell out: `uv run python -m seed --posts 500`.

Fills the configured database (DATABASE_URL, SQLite by default) with a few authors
and plausible, tagged posts spread over the past two years, after bringing its schema up to
date as start-up does: a fresh checkout needs no other step. The same `--seed` on
the same database writes the same text. Running it again reuses the demo authors and
adds more posts. Every author signs in with one demo password, printed at the end;
it is hashed once, through auth.py like every password, so seeding stays quick.
"""

import argparse
import asyncio
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth import hash_password
from config import get_settings
from content.markdown_render import plain_text, reading_minutes, render_html
from content.slugs import slug_for_title
from content.tags import normalise_tags
from database import create_engine, create_sessionmaker, migrate
from models import TITLE_MAX, Post, PostStatus, PostTag, User, fold

DEMO_PASSWORD = "inkwell-demo-password"  # noqa: S105 (printed for people to sign in with)
DEFAULT_POSTS = 500
DEFAULT_AUTHORS = 6
DEFAULT_SEED = 10
# Posts are dated within this long before now, the newest most recent.
SPREAD = timedelta(days=2 * 365)

FIRST_NAMES = ["Maya", "Tomás", "Priya", "Jonas", "Amara", "Kenji", "Élodie", "Sam"]
LAST_NAMES = ["Chen", "Rivera", "Patel", "Berg", "Okafor", "Sato", "Martin", "Kowalski"]
MAX_AUTHORS = len(FIRST_NAMES) * len(LAST_NAMES)

TOPICS = [
    "sourdough", "night trains", "learning the cello", "small gardens", "rainy Sundays",
    "old maps", "writing by hand", "mountain walks", "city cycling", "film cameras",
    "green tea", "reading slowly", "fixing old radios", "the sea in winter", "home-made pasta",
    "birdwatching", "second-hand bookshops", "long-distance running", "learning Japanese",
    "keeping a journal", "allotment life", "bread ovens", "board games", "quiet mornings",
]  # fmt: skip
# Each topic's shelf: a post is tagged with its topic and its shelf, so tag pages and the
# editor's suggestions have something to show (the topic tags are normalised, e.g.
# "night-trains", by content/tags.py like any author's).
SHELVES = {
    "food": ["sourdough", "green tea", "home-made pasta", "bread ovens"],
    "outdoors": [
        "small gardens", "mountain walks", "birdwatching", "allotment life", "the sea in winter",
    ],
    "travel": ["night trains", "old maps", "city cycling"],
    "making": ["writing by hand", "film cameras", "fixing old radios", "keeping a journal"],
    "learning": ["learning the cello", "learning Japanese", "long-distance running"],
    "slow-living": [
        "rainy Sundays", "reading slowly", "second-hand bookshops", "board games",
        "quiet mornings",
    ],
}  # fmt: skip
SHELF_OF = {topic: shelf for shelf, topics in SHELVES.items() for topic in topics}
TITLES = [
    "Notes on {topic}", "What {topic} taught me", "A week of {topic}",
    "Why I keep coming back to {topic}", "{Topic}, revisited", "On {topic}",
    "Getting started with {topic}", "Ten small lessons from {topic}",
    "The trouble with {topic}", "{Topic} in the off season", "A beginner's guide to {topic}",
    "Field notes: {topic}", "Falling out of love with {topic}", "{Topic} on a budget",
]  # fmt: skip
OPENERS = [
    "I have been thinking about {topic} a lot lately.",
    "It started, as these things do, almost by accident.",
    "A friend asked me last week why I still bother with {topic}.",
    "This is the post I promised a few readers back in the spring.",
    "Some of you wrote in after my last post about {topic}, so here is a longer answer.",
    "I nearly did not write this one.",
]
SUBJECTS = [
    "the morning light", "my old notebook", "the corner café", "the city library",
    "our neighbour's dog", "the first draft", "a borrowed camera", "the last train home",
    "my grandmother's kitchen", "the hardware shop down the road", "a rainy afternoon",
    "a half-finished project", "the local market", "an old friend",
]  # fmt: skip
VERBS = [
    "reminded me of", "changed the way I think about", "kept pulling me back to",
    "made me slow down and notice", "turned out to be the key to", "had little to do with",
    "quietly taught me more about", "gave me a new respect for",
]  # fmt: skip
OBJECTS = [
    "patience", "the value of slow work", "small routines", "doing things badly at first",
    "how little I actually need", "paying attention", "getting my hands dirty",
    "the people around me", "why I started {topic} in the first place", "keeping it simple",
]  # fmt: skip
ASIDES = [
    "None of this was planned.", "I am still not sure I got it right.",
    "It took far longer than I expected.", "The details matter more than I thought.",
    "There is a lesson in there somewhere.", "Most of it came down to practice.",
    "My notes from that week are a mess.", "I would do it again tomorrow.",
    "Nobody warned me about the cost.", "The internet was, as usual, no help at all.",
]  # fmt: skip
REMARKS = [
    "Anyone who has tried {topic} knows how awkward the first weeks are.",
    "The books on {topic} make it sound easier than it is.",
    "I kept a list of everything that went wrong, and it is long.",
    "Looking back, the hard part was never {topic} itself.",
    "Half the fun of {topic} is the people you meet along the way.",
    "I spent most of Saturday on it and regret nothing.",
    "There is a kind of calm in {topic} that I have not found anywhere else.",
    "My first attempt was, frankly, a disaster.",
]
CLOSERS = [
    "More on {topic} next time.", "If you have tried this yourself, tell me how it went.",
    "That is all for now.", "I will report back in a month or so.",
    "Thanks for reading, as always.", "Until next week.",
]  # fmt: skip


@dataclass(frozen=True)
class DemoAuthor:
    username: str
    email: str


def demo_authors(count: int) -> list[DemoAuthor]:
    """The same authors every time, whatever the seed: reruns find them again."""
    authors = []
    for index in range(count):
        shift, first_index = divmod(index, len(FIRST_NAMES))
        first = FIRST_NAMES[first_index]
        last = LAST_NAMES[(first_index + shift) % len(LAST_NAMES)]
        ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
        authors.append(DemoAuthor(f"{first} {last}", f"{ascii_name.decode().lower()}@example.com"))
    return authors


def _fill(template: str, topic: str) -> str:
    return template.format(topic=topic, Topic=topic[0].upper() + topic[1:])


def _sentence(rng: random.Random, topic: str) -> str:
    kind = rng.random()
    if kind < 0.25:
        return rng.choice(ASIDES)
    if kind < 0.5:
        return _fill(rng.choice(REMARKS), topic)
    subject = rng.choice(SUBJECTS)
    obj = _fill(rng.choice(OBJECTS), topic)
    return f"{subject[0].upper()}{subject[1:]} {rng.choice(VERBS)} {obj}."


@dataclass(frozen=True)
class DemoPost:
    title: str
    content: str
    tags: list[str]


def demo_post(rng: random.Random) -> DemoPost:
    """A title, a few paragraphs of plain text about one topic, and its tags."""
    topic = rng.choice(TOPICS)
    title = _fill(rng.choice(TITLES), topic)[:TITLE_MAX]
    opener = _fill(rng.choice(OPENERS), topic)
    used = {opener}
    paragraphs = []
    for index in range(rng.randint(2, 5)):
        sentences = [opener] if index == 0 else []
        for _ in range(rng.randint(3, 6)):
            sentence = _sentence(rng, topic)
            if sentence not in used:  # no sentence twice in one post
                used.add(sentence)
                sentences.append(sentence)
        if sentences:
            paragraphs.append(" ".join(sentences))
    paragraphs.append(_fill(rng.choice(CLOSERS), topic))
    return DemoPost(title, "\n\n".join(paragraphs), normalise_tags([topic, SHELF_OF[topic]]))


def demo_dates(rng: random.Random, count: int, now: datetime) -> list[datetime]:
    """`count` distinct moments within SPREAD before `now`, oldest first."""
    seconds = rng.sample(range(1, int(SPREAD.total_seconds())), count)
    return [now - timedelta(seconds=offset) for offset in sorted(seconds, reverse=True)]


async def _authors_in(session: AsyncSession, wanted: list[DemoAuthor]) -> list[User]:
    """The demo authors, made if missing; a name someone else took is left out."""
    keys = [fold(author.email) for author in wanted]
    names = [fold(author.username) for author in wanted]
    query = select(User).where(or_(User.email_key.in_(keys), User.username_key.in_(names)))
    existing = list(await session.scalars(query))
    by_email = {user.email_key: user for user in existing}
    taken_names = {user.username_key for user in existing}
    missing = [a for a in wanted if fold(a.email) not in by_email]
    new = [a for a in missing if fold(a.username) not in taken_names]
    if new:
        password_hash = await hash_password(DEMO_PASSWORD)
        session.add_all(
            User(username=a.username, email=a.email, password_hash=password_hash) for a in new
        )
        await session.flush()
    wanted_keys = set(keys)
    found = await session.scalars(query.order_by(User.id))
    return [user for user in found if user.email_key in wanted_keys]


async def seed(database_url: str, posts: int, authors: int, seed: int) -> list[User]:
    """Add `posts` posts by up to `authors` demo authors, in one transaction; return
    the authors."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with create_sessionmaker(engine)() as session, session.begin():
            users = await _authors_in(session, demo_authors(authors))
            if not users:
                raise SystemExit("seed: every demo author's name is taken by another account")
            already = await session.scalar(select(func.count(Post.id)))
            # The same seed gives the same text, and a rerun goes on with new text.
            rng = random.Random(f"{seed}:{already}")  # noqa: S311 (demo text, not secrets)
            now = datetime.now(UTC).replace(microsecond=0)
            rows, tags = [], []
            for date_posted in demo_dates(rng, posts, now):
                post = demo_post(rng)
                title, content = post.title, post.content
                tags.append(post.tags)
                author = rng.choice(users)
                # A bulk insert of published posts (demo posts use no uploaded images,
                # so this is what content/posts.py's set_content would write).
                html = render_html(content)
                rows.append(
                    {
                        "title": title,
                        "content": content,
                        "content_html": html,
                        "search_text": plain_text(html),
                        "reading_minutes": reading_minutes(html),
                        "status": PostStatus.PUBLISHED,
                        "slug": slug_for_title(title),
                        "slug_fixed": True,
                        "user_id": author.id,
                        "date_posted": date_posted,
                        "changed_at": date_posted,
                    }
                )
            ids = await session.scalars(
                insert(Post).returning(Post.id, sort_by_parameter_order=True), rows
            )
            tag_rows = [
                {"post_id": post_id, "tag": tag}
                for post_id, post_tags in zip(ids, tags, strict=True)
                for tag in post_tags
            ]
            await session.execute(insert(PostTag), tag_rows)
        return users
    finally:
        await engine.dispose()


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def author_count(value: str) -> int:
    number = positive_int(value)
    if number > MAX_AUTHORS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_AUTHORS}, not {number}")
    return number


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m seed", description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=positive_int, default=DEFAULT_POSTS, help="posts to add")
    parser.add_argument(
        "--authors", type=author_count, default=DEFAULT_AUTHORS, help="demo authors to use"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same text")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    users = asyncio.run(seed(get_settings().database_url, args.posts, args.authors, args.seed))
    print(f"Added {args.posts} posts by {len(users)} authors.")
    print(f"Sign in with the password {DEMO_PASSWORD!r} as any of:")
    for user in users:
        print(f"  {user.email}  ({user.username})")


if __name__ == "__main__":
    main()
