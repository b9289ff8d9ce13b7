"""The mails comments cause (comments/notifications.py), through the outbox to a real
SMTP server, and their one-click unsubscribe (RFC 8058)."""

import re
from urllib.parse import urlsplit

from tests.helpers import Account, create_post, make_account
from tests.mail_server import Mailbox, Received
from tests.test_comments import approve, comment, commenter, suspend


def comment_mails(mailbox: Mailbox, account: Account, count: int = 1) -> list[Received]:
    """The first `count` comment mails to `account` (sign-up's verification link aside)."""
    mailbox.wait_for(account.email, count + 1)
    return [m for m in mailbox.to(account.email) if "/verify-email" not in m.text]


def unsubscribe_link(mail: Received) -> str:
    header = str(mail.message["List-Unsubscribe"]).strip()
    found = re.fullmatch(r"<(https?://[^>]+/unsubscribe/comments\?token=[\w.-]+)>", header)
    assert found, header
    return found.group(1)


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_the_posts_author_hears_of_a_comment_awaiting_approval(client, mailbox):
    author = commenter(client)
    post = create_post(client, author, "Mailed", "x")
    newcomer = commenter(client, "Newcomer")
    created = comment(client, post["id"], newcomer, "Hello *there*").json()
    (mail,) = comment_mails(mailbox, author)
    assert mail.message["Subject"] == "A comment awaits your approval on “Mailed”"
    assert "Newcomer" in mail.text
    assert "Hello *there*" in mail.text
    assert f"{post['url']}#comment-{created['id']}" in mail.text
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_link(mail) in mail.text.replace("=\n", "")
    assert mail.message["Auto-Submitted"] == "auto-generated"


def test_replies_mail_the_comments_author_but_nobody_hears_of_their_own(client, mailbox):
    author = commenter(client)
    post = create_post(client, author, "Thread", "x")
    reader = commenter(client, "Reader")
    approve(client, reader)
    other = commenter(client, "Other")
    approve(client, other)
    top = comment(client, post["id"], reader, "Top").json()
    comment(client, post["id"], reader, "My own reply", parent_id=top["id"])
    comment(client, post["id"], author, "Own post")  # no mail to oneself
    comment(client, post["id"], other, "A reply", parent_id=top["id"])
    (reply,) = comment_mails(mailbox, reader)
    assert reply.message["Subject"] == "Other replied to your comment on “Thread”"
    assert "A reply" in reply.text
    assert unsubscribe_link(reply)
    # The post's author heard of the three comments by others, not of their own.
    mails = comment_mails(mailbox, author, 3)
    assert [m.message["Subject"] for m in mails] == ["New comment on “Thread”"] * 3


def test_a_pending_reply_is_mailed_to_the_comments_author_once_approved(client, mailbox):
    author = commenter(client)
    post = create_post(client, author, "Later", "x")
    reader = commenter(client)
    approve(client, reader)
    top = comment(client, post["id"], reader, "Top").json()
    newcomer = commenter(client, "Newbie")
    reply = comment(client, post["id"], newcomer, "Waiting reply", parent_id=top["id"]).json()
    assert reply["status"] == "pending"
    comment_mails(mailbox, author, 2)  # the two comments, the second awaiting approval
    assert comment_mails(mailbox, reader, 0) == []  # nothing of a pending reply yet
    client.post(f"/api/comments/{reply['id']}/approval", headers=author.headers)
    (mail,) = comment_mails(mailbox, reader)
    assert "Waiting reply" in mail.text


def test_unverified_suspended_and_unsubscribed_accounts_get_no_comment_mail(client, mailbox):
    unverified = make_account(client)
    suspended = commenter(client)
    quiet = commenter(client)
    patched = client.patch(
        f"/api/users/{quiet.id}", json={"comment_mail": False}, headers=quiet.headers
    )
    assert patched.status_code == 200
    assert patched.json()["comment_mail"] is False
    loud = commenter(client)
    posts = [create_post(client, who, "P", "x") for who in (unverified, suspended, quiet, loud)]
    suspend(client, suspended)
    reader = commenter(client)
    for post in posts:
        assert comment(client, post["id"], reader).status_code == 201
    comment_mails(mailbox, loud)  # the last one queued has arrived: so have the others
    for account in (unverified, suspended, quiet):
        assert comment_mails(mailbox, account, 0) == []


def test_one_click_unsubscribes_without_signing_in_and_does_nothing_else(client, mailbox):
    author = commenter(client)
    assert client.get("/api/users/me", headers=author.headers).json()["comment_mail"] is True
    post = create_post(client, author, "Quiet please", "x")
    comment(client, post["id"], commenter(client))
    (mail,) = comment_mails(mailbox, author)
    url = local(unsubscribe_link(mail))
    before = client.get("/api/users/me", headers=author.headers).json()

    # The link's GET (a mail scanner, a person) only asks.
    page = client.get(url)
    assert page.status_code == 200
    assert 'method="post"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/api/users/me", headers=author.headers).json()["comment_mail"] is True

    # RFC 8058: a POST of List-Unsubscribe=One-Click, no cookie, no token.
    done = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "no more mails about comments" in done.text
    after = client.get("/api/users/me", headers=author.headers).json()
    assert after == before | {"comment_mail": False}
    assert client.post(url).status_code == 200  # again: still off, nothing else

    loud = commenter(client)
    other = create_post(client, loud, "Loud", "x")
    reader = commenter(client)
    comment(client, post["id"], reader)
    comment(client, other["id"], reader)
    comment_mails(mailbox, loud)
    assert len(comment_mails(mailbox, author, 0)) == 1  # only the one from before

    # Turned on again from the account.
    on = client.patch(
        f"/api/users/{author.id}", json={"comment_mail": True}, headers=author.headers
    )
    assert on.json()["comment_mail"] is True


def test_unsubscribe_tokens_cannot_be_guessed_or_moved_to_another_account(client, mailbox):
    author = commenter(client)
    post = create_post(client, author, "Token", "x")
    comment(client, post["id"], commenter(client))
    (mail,) = comment_mails(mailbox, author)
    token = unsubscribe_link(mail).rpartition("token=")[2]
    user_id, _, tag = token.partition(".")
    assert user_id == str(author.id)
    assert len(tag) >= 20  # 128 bits of HMAC
    victim = commenter(client)
    for forged in (
        str(victim.id),  # the id alone
        f"{victim.id}.{tag}",  # another account's tag
        f"{author.id}.{tag[:-1]}x" if not tag.endswith("x") else f"{author.id}.{tag[:-1]}y",
        "",
        "abc.def",
        "99999999999999999999.x",
    ):
        refused = client.post("/unsubscribe/comments", params={"token": forged})
        assert refused.status_code in (400, 422), forged
        if refused.status_code == 400:
            assert "not valid" in refused.text
    me = client.get("/api/users/me", headers=victim.headers).json()
    assert me["comment_mail"] is True


def test_an_unsubscribe_page_with_a_bad_token_says_so(client):
    page = client.get("/unsubscribe/comments", params={"token": "1.forged"})
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert "not valid" in page.text
