"""Send one signed announcement to the running example, the way a Standard Webhooks sender would.

python -m examples.webhook_to_message.send "Lunch is served" --channel kitchen --members 120915 2041
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

from framework.testing import standard_webhooks_headers

# The same default as bot.toml; set ANNOUNCE_HOOK_SECRET for both in real use.
DEFAULT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def main() -> int:
    parser = argparse.ArgumentParser(description="send a signed announcement webhook")
    parser.add_argument("text")
    parser.add_argument("--channel", default="kitchen", help="one chat per channel")
    parser.add_argument("--members", nargs="+", default=["120915", "2041"], help="RoostedHR worker ids")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the service's base URL")
    parser.add_argument("--id", help="the delivery id (webhook-id); send one twice to see the dedupe")
    args = parser.parse_args()

    body = json.dumps({"channel": args.channel, "text": args.text, "members": args.members}).encode()
    secret = os.environ.get("ANNOUNCE_HOOK_SECRET", DEFAULT_SECRET)
    headers = {"Content-Type": "application/json", **standard_webhooks_headers(secret, body, msg_id=args.id)}
    request = urllib.request.Request(f"{args.url}/hooks/announcements", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
