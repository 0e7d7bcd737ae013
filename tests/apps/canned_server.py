"""Test app for `command`: GET /canned/<name> answers, in one write, the bytes $CANNED_FILE (JSON, name → latin-1
text) holds for <name>, and closes after it if those bytes ask to (a `Connection: close` line)."""

import asyncio
import json
import os

from unix_serve import serve


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with open(os.environ["CANNED_FILE"], encoding="utf-8") as file:
        canned = {name: text.encode("latin-1") for name, text in json.load(file).items()}
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            answer = canned[head.split(b" ", 2)[1].decode().rsplit("/", 1)[1]]
            writer.write(answer)
            await writer.drain()
            if b"\r\nconnection: close\r\n" in answer.lower():
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


if __name__ == "__main__":
    serve(handle)
