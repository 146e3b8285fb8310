"""A Python app chatting with the hush CLI through a relay, using the UniFFI bindings.

Run by the Rust test python_program_chats_with_the_cli with the generated `hush_ffi` module on
PYTHONPATH and, in the environment, HUSH_APP_HOME, HUSH_RELAY, HUSH_PEER_INVITE and HUSH_CLI (a
shell command prefix running `hush --home PEER_HOME`). Receives through the listener callback.
"""

import asyncio
import os
import queue
import shlex
import subprocess
import sys

import hush_ffi as hush


class Listener(hush.HushListener):
    """Hands every event to the main thread."""

    def __init__(self):
        self.events = queue.Queue()

    def on_event(self, event):
        self.events.put(event)


def wait_for(listener, matches, what):
    while True:
        try:
            event = listener.events.get(timeout=20)
        except queue.Empty:
            sys.exit(f"FAIL: no {what} within 20 s")
        print("event:", event, flush=True)
        if matches(event):
            return event


def cli(*args):
    command = shlex.split(os.environ["HUSH_CLI"]) + list(args)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"FAIL: {command} exited {done.returncode}: {done.stderr}")
    return done.stdout


def main():
    home = os.environ["HUSH_APP_HOME"]
    assert not hush.home_exists(home)
    # Passphrase-protected this time (the C test uses a key).
    client = hush.HushClient.create(home, "python passphrase")
    me = client.init_account(os.environ["HUSH_RELAY"], "Pia")
    assert me.invite.startswith("hush1:"), me
    bob = client.add_contact(os.environ["HUSH_PEER_INVITE"], "cli")
    assert bob.alias == "cli" and not bob.verified

    # One flat error type with clear messages.
    try:
        client.send_text("nobody", "hello?")
        sys.exit("FAIL: sending to an unknown contact succeeded")
    except hush.HushError.UnknownContact as error:
        assert "nobody" in str(error), error
    try:
        client.history("cli", 10, "not-an-id")
        sys.exit("FAIL: a bad message id was accepted")
    except hush.HushError.InvalidInput as error:
        print("expected error:", error)

    listener = Listener()
    client.set_listener(listener)
    try:
        client.poll_event(0)
        sys.exit("FAIL: polling while a listener is set")
    except hush.HushError.InvalidInput:
        pass
    client.go_online()
    wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.CONNECTION)
        and isinstance(e.state, hush.HushConnectionState.CONNECTED),
        "connection",
    )

    sent = client.send_text("cli", "hello from Python")
    assert sent.status == hush.HushStatus.QUEUED, sent
    wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.MESSAGE_STATUS)
        and e.message.id == sent.id
        and e.message.status == hush.HushStatus.STORED,
        "stored status",
    )
    out = cli("--json", "sync")
    assert "hello from Python" in out, out
    cli("send", "Pia", "hi Python, this is the CLI")
    got = wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.MESSAGE),
        "message from the CLI",
    )
    assert got.message.text == "hi Python, this is the CLI", got
    assert got.message.direction == hush.HushDirection.INCOMING
    assert got.message.conversation == bob.mailbox

    # The async forms run on asyncio.
    async def async_part():
        page = await client.history_async("cli", 1, None)
        assert [m.text for m in page] == ["hi Python, this is the CLI"], page
        older = await client.history_async("cli", 10, page[0].id)
        assert [m.text for m in older] == ["hello from Python"], older
        found = await client.search_async("PYTHON")
        assert len(found) == 2, found
        return await client.conversations_async()

    conversations = asyncio.run(async_part())
    assert conversations[0].name == "cli", conversations
    assert conversations[0].last_message.text == "hi Python, this is the CLI"
    number = client.safety_number("cli")
    assert len(number.digits.replace(" ", "")) == 60, number
    assert client.mark_verified("cli").verified

    client.shutdown()
    try:
        client.contacts()
        sys.exit("FAIL: a closed client answered")
    except hush.HushError.Closed:
        pass
    try:
        hush.HushClient.open(home, "wrong passphrase")
        sys.exit("FAIL: a wrong passphrase opened the home")
    except hush.HushError.WrongPassphrase as error:
        print("expected error:", error)
    again = hush.HushClient.open(home, "python passphrase")
    assert len(again.history("cli", 10, None)) == 2
    again.shutdown()
    print("Python app: all checks passed")


if __name__ == "__main__":
    main()
