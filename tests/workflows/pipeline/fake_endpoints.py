"""Stand-ins for third-party model servers that cannot run here: real HTTP on loopback.

Our real client code (httpx inside the adapters) talks to them; they only script answers.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeEndpoint:
    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, object]] = []
        self.default: tuple[int, object] = (200, {})
        self.stall = threading.Event()  # set() releases a request that is made to hang
        self.hang = False
        # Answers computed from the request body (a judge that reads the prompt), when set.
        self.respond = None
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append(
                    {"path": self.path, "body": body, "headers": dict(self.headers)}
                )
                if endpoint.hang:
                    endpoint.stall.wait(timeout=10)
                if endpoint.respond is not None:
                    status, payload = endpoint.respond(body)
                else:
                    status, payload = (
                        endpoint.answers.pop(0) if endpoint.answers else endpoint.default
                    )
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test): nothing to answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.stall.set()
        self.server.shutdown()
        self.server.server_close()


def chat_answer(content: str, *, logprobs: list[float] | None = None, usage=(120, 8)) -> dict:
    choice: dict = {
        "index": 0,
        "message": {"role": "assistant", "content": content},
        "finish_reason": "stop",
    }
    if logprobs is not None:
        choice["logprobs"] = {
            "content": [{"token": f"t{i}", "logprob": lp} for i, lp in enumerate(logprobs)]
        }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [choice],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
    }
