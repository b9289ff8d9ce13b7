"""The framework's ceiling: a FastAPI app that does nothing, served like Inkwell is.

`bench/run.py` starts it next to Inkwell and reports every figure as a ratio to it.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}
