"""Copy-paste examples of calling a running service: curl, Python, and a no-code tool's HTTP step.

Shown by the Predict section's "Use from other programs" and printed by `cnnstudio serve`; a test
runs the curl and Python examples against a real service.
"""

from __future__ import annotations

PICTURE = "photo.jpg"  # the file name the examples use


def _auth(token: str | None) -> str:
    return "" if not token else f' -H "Authorization: Bearer {token}"'


def curl_example(url: str, token: str | None = None) -> str:
    return (
        "# one picture: its answer\n"
        f'curl --data-binary @{PICTURE} -H "Content-Type: image/jpeg"{_auth(token)} {url}/predict\n'
        '# several pictures: {"predictions": [...]}\n'
        f"curl -F files=@{PICTURE} -F files=@other.png{_auth(token)} {url}/predict\n"
    )


def python_example(url: str, token: str | None = None) -> str:
    headers = (
        '{"Content-Type": "image/jpeg"' + (f', "Authorization": "Bearer {token}"' if token else "") + "}"
    )
    return (
        "# Python, standard library only\n"
        "import json\n"
        "import urllib.request\n"
        "\n"
        f'with open("{PICTURE}", "rb") as f:\n'
        "    request = urllib.request.Request(\n"
        f'        "{url}/predict", data=f.read(), headers={headers}\n'
        "    )\n"
        "answer = json.load(urllib.request.urlopen(request))\n"
        'print(answer["label"], answer["confidence"], answer["unknown"])\n'
    )


def no_code_example(url: str, token: str | None = None) -> str:
    auth = f", header Authorization: Bearer {token}" if token else ""
    return (
        f"HTTP request: POST {url}/predict, body: the picture file (binary), header "
        f"Content-Type: image/jpeg{auth}. The answer is JSON: label, confidence, unknown.\n"
        "(Spreadsheets and no-code tools call this an HTTP, web request or webhook step.)\n"
    )


def examples(url: str, token: str | None = None) -> dict[str, str]:
    """{"curl": ..., "Python": ..., "Spreadsheet or no-code tool": ...} for the service at `url`."""
    return {
        "curl": curl_example(url, token),
        "Python": python_example(url, token),
        "Spreadsheet or no-code tool": no_code_example(url, token),
    }
