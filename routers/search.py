"""/api/search: full-text search over published posts (content/search.py)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from content.pagination import LIMIT_DEFAULT, Limit
from content.search import PageOfResults, search_posts
from database import SessionDep
from schemas import PostResponse, SearchPage, SearchResultResponse, error_responses, refused_422

router = APIRouter(prefix="/api/search", tags=["search"])

SearchText = Annotated[
    str,
    Query(
        description='Words (all must match), "exact phrase", -excluded, and `or` between '
        "two terms; at most 200 characters"
    ),
]
SearchCursor = Annotated[
    str | None, Query(description="`next_cursor` from the previous page of the same search")
]


def results_json(page: PageOfResults) -> Response:
    body = SearchPage(
        items=[
            SearchResultResponse(
                **PostResponse.model_validate(result.post).model_dump(), snippet=result.snippet
            )
            for result in page.results
        ],
        next_cursor=page.next_cursor,
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.get(
    "",
    response_model=SearchPage,
    responses=error_responses(400)
    | refused_422(
        "The query did not validate, is too long (`search_query_too_long`) or has nothing "
        "to search for (`search_query_empty`)"
    ),
)
async def search(
    session: SessionDep, q: SearchText, limit: Limit = LIMIT_DEFAULT, cursor: SearchCursor = None
) -> Response:
    """Published posts that match `q`, the most relevant first (a title match counts
    more than one in the text), then the newest; each with a snippet."""
    return results_json(await search_posts(session, q, limit, cursor))
