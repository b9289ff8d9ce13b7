"""The HTML pages. They are rendered for everyone alike: who is signed in is known
only to the browser (the token lives in localStorage), so personal touches such as
the navbar and the Edit buttons are added by the page's scripts."""

import hashlib
from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from config import BASE_DIR
from database import SessionDep
from models import Post
from routers.posts import get_post_or_404, newest_posts
from routers.users import get_user_or_404
from schemas import PathId

STATIC_DIR = BASE_DIR / "static"


@cache
def static_url(path: str) -> str:
    """A URL that changes whenever the file does, so browsers may cache it for a year."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


templates = Jinja2Templates(directory=BASE_DIR / "templates")
templates.env.globals["static_url"] = static_url

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def render(request: Request, name: str, title: str, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"title": title, **context})


@router.get("/")
async def home(request: Request, session: SessionDep) -> HTMLResponse:
    posts = (await session.scalars(newest_posts())).all()
    return render(request, "home.html", "Home", posts=posts)


@router.get("/posts/{post_id:int}")
async def post_page(request: Request, post_id: PathId, session: SessionDep) -> HTMLResponse:
    post = await get_post_or_404(session, post_id)
    return render(request, "post.html", post.title, post=post)


@router.get("/users/{user_id:int}/posts")
async def user_posts_page(request: Request, user_id: PathId, session: SessionDep) -> HTMLResponse:
    user = await get_user_or_404(session, user_id)
    posts = (await session.scalars(newest_posts().where(Post.user_id == user_id))).all()
    return render(request, "user_posts.html", f"Posts by {user.username}", user=user, posts=posts)


@router.get("/register")
async def register_page(request: Request) -> HTMLResponse:
    return render(request, "register.html", "Register")


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", "Log in")


@router.get("/account")
async def account_page(request: Request) -> HTMLResponse:
    return render(request, "account.html", "Your account")
