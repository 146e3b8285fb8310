"""A Python app chatting with the hush CLI through a relay, using the UniFFI bindings.

Run by the Rust test python_program_chats_with_the_cli with the generated `hush_ffi` module on
PYTHONPATH and, in the environment, HUSH_APP_HOME, HUSH_RELAY, HUSH_PEER_INVITE and HUSH_CLI (a
shell command prefix running `hush --home PEER_HOME`). Receives through the listener callback.
"""

import asyncio
import hashlib
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
        self.seen = []  # every event, in order

    def on_event(self, event):
        self.seen.append(event)
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


def is_event(kind, **fields):
    """A matcher for events of `kind` whose fields have these values."""
    return lambda e: isinstance(e, kind) and all(
        getattr(e, name) == value for name, value in fields.items()
    )


def groups_and_changes(client, listener, bob):
    """A group with the CLI user; receipts, reactions, edits, deletes, timers, preferences."""
    team = client.create_group("team", ["cli"])
    assert team.name == "team" and team.my_role == hush.HushRole.OWNER, team
    assert sorted(m.alias for m in team.members) == ["cli", "me"], team
    assert team.conversation.startswith("group:"), team
    assert [g.conversation for g in client.groups()] == [team.conversation]

    sent = client.send_text("#team", "hello team")
    assert sent.conversation == team.conversation, sent
    assert [r.mailbox for r in sent.recipients] == [bob.mailbox], sent
    wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.MESSAGE_STATUS)
        and e.message.id == sent.id
        and e.message.status == hush.HushStatus.STORED,
        "stored status of the group message",
    )
    out = cli("--json", "sync")
    assert "hello team" in out, out
    # The CLI's device got it: a delivery receipt comes back.
    receipt = wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.RECEIPT) and e.message.id == sent.id,
        "delivery receipt",
    )
    assert receipt.contact == bob.mailbox and not receipt.read, receipt
    assert [r.status for r in receipt.message.recipients] == [hush.HushStatus.DELIVERED]

    # The CLI writes to the group.
    cli("send", "#team", "hi team, CLI here")
    got = wait_for(listener, is_event(hush.HushEvent.MESSAGE), "group message from the CLI")
    assert got.message.conversation == team.conversation, got
    assert got.message.sender == bob.mailbox and got.message.text == "hi team, CLI here", got
    conversations = {c.conversation: c for c in client.conversations()}
    assert conversations[team.conversation].is_group, conversations
    assert not conversations[bob.mailbox].is_group, conversations

    # Reply, react, edit; the CLI sees all three, and reading sends a read receipt.
    reply = client.send_reply(team.conversation, "welcome", got.message.id)
    assert reply.reply_to == got.message.id, reply
    reacted = client.react(got.message.id, "👍")
    assert [(r.sender, r.emoji) for r in reacted.reactions] == [(None, "👍")], reacted
    edited = client.edit_message(sent.id, "hello team, edited")
    assert edited.text == "hello team, edited" and edited.edited_at_ms is not None, edited
    assert client.mark_read("#team") == 1
    assert client.mark_read("#team") == 0
    out = cli("--json", "sync")
    for needle in ['"welcome"', "👍", '"type":"edited"', "hello team, edited", '"state":"read"']:
        assert needle in out, (needle, out)

    # The CLI reacts to the Python app's message.
    cli("react", sent.id, "🎉")
    reacted = wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.REACTED) and e.message.id == sent.id,
        "reaction from the CLI",
    )
    assert [(r.sender, r.emoji) for r in reacted.message.reactions] == [
        (bob.mailbox, "🎉")
    ], reacted

    # Group changes: the CLI, made an admin, renames the group.
    promoted = client.group_promote("#team", "cli")
    roles = {m.alias: m.role for m in promoted.members}
    assert roles == {"me": hush.HushRole.OWNER, "cli": hush.HushRole.ADMIN}, promoted
    cli("sync")
    cli("group", "rename", "team", "crew")
    changed = wait_for(listener, is_event(hush.HushEvent.GROUP_CHANGED), "group change")
    assert changed.group == "#crew" and "crew" in changed.change, changed
    assert client.group_info(team.conversation).name == "crew"
    client.send_typing("#crew", True)

    # Delete for everyone.
    client.delete_message(sent.id, True)
    assert sent.id not in [m.id for m in client.history(team.conversation, 10, None)]
    out = cli("--json", "sync")
    assert '"type":"deleted"' in out and sent.id in out, out

    # Disappearing messages, both ways.
    client.set_timer(team.conversation, 3600)
    assert client.timer("#crew") == 3600
    assert client.timer("cli") is None
    cli("disappear", "Pia", "1h")
    timer = wait_for(listener, is_event(hush.HushEvent.TIMER_CHANGED), "timer change")
    assert timer.conversation == bob.mailbox and timer.seconds == 3600, timer
    assert client.timer("cli") == 3600

    # Preferences.
    preferences = client.preferences()
    assert preferences.receipts and not preferences.presence, preferences
    preferences.receipts = False
    assert not client.set_preferences(preferences).receipts
    assert not client.preferences().receipts
    preferences.receipts = True
    client.set_preferences(preferences)


def files_both_ways(client, listener, bob, workdir):
    """A file to the CLI user (saved with `hush save`), one from it (saved with save_file)."""
    # Python -> CLI.
    data = os.urandom(300 * 1024 + 5)
    source = os.path.join(workdir, "from-python.bin")
    with open(source, "wb") as f:
        f.write(data)
    sent = client.send_file("cli", source, "a file from Python")
    assert sent.status == hush.HushStatus.QUEUED, sent
    assert sent.text == "a file from Python", sent
    assert sent.file is not None and sent.file.state == hush.HushFileState.UPLOADING, sent
    assert sent.file.name == "from-python.bin" and sent.file.size == len(data), sent.file
    assert sent.file.sha256 == hashlib.sha256(data).hexdigest(), sent.file
    wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.MESSAGE_STATUS)
        and e.message.id == sent.id
        and e.message.status == hush.HushStatus.STORED,
        "stored status of the file message",
    )
    uploads = [
        e
        for e in listener.seen
        if isinstance(e, hush.HushEvent.TRANSFER) and e.message_id == sent.id
    ]
    assert uploads, "no upload progress"
    assert all(e.direction == hush.HushDirection.OUTGOING for e in uploads), uploads
    assert uploads[-1].done == uploads[-1].total == len(data), uploads[-1]
    mine = [m for m in client.history("cli", 50, None) if m.id == sent.id]
    assert [m.file.state for m in mine] == [hush.HushFileState.UPLOADED], mine
    out = cli("--json", "sync")
    assert sent.id in out and "from-python.bin" in out, out
    saved_by_cli = os.path.join(workdir, "saved-by-cli.bin")
    cli("save", sent.id, saved_by_cli)
    with open(saved_by_cli, "rb") as f:
        assert f.read() == data, "the CLI saved other bytes than were sent"

    # CLI -> Python, through the callback; saved with save_file.
    data = os.urandom(200 * 1024 + 3)
    source = os.path.join(workdir, "from-cli.bin")
    with open(source, "wb") as f:
        f.write(data)
    cli("send-file", "Pia", source, "--caption", "a file from the CLI")
    got = wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.MESSAGE) and e.message.file is not None,
        "file message from the CLI",
    ).message
    assert got.text == "a file from the CLI" and got.sender == bob.mailbox, got
    assert got.file.state == hush.HushFileState.AVAILABLE, got.file
    assert got.file.name == "from-cli.bin" and got.file.size == len(data), got.file
    assert got.file.sha256 == hashlib.sha256(data).hexdigest(), got.file
    assert [m.id for m in client.files("cli")] == [got.id]
    target_dir = os.path.join(workdir, "saved-by-python")
    os.mkdir(target_dir)
    saved = client.save_file(got.id, target_dir)
    assert saved.path == os.path.join(os.path.realpath(target_dir), "from-cli.bin"), saved
    with open(saved.path, "rb") as f:
        assert f.read() == data, "save_file wrote other bytes than the CLI sent"
    assert saved.size == len(data) and saved.sha256 == got.file.sha256, saved
    assert saved.resumed_from == 0 and saved.downloaded_bytes > len(data), saved
    [listed] = client.files(None)
    assert listed.file.state == hush.HushFileState.SAVED, listed.file
    assert listed.file.saved_to == saved.path, listed.file
    wait_for(
        listener,
        lambda e: isinstance(e, hush.HushEvent.TRANSFER)
        and e.message_id == got.id
        and e.direction == hush.HushDirection.INCOMING
        and e.done == e.total == len(data),
        "download progress",
    )
    # Saving again is refused: the file is there already.
    try:
        client.save_file(got.id, target_dir)
        sys.exit("FAIL: save_file overwrote a file")
    except hush.HushError.InvalidInput as error:
        assert "already exists" in str(error), error


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
    groups_and_changes(client, listener, bob)
    workdir = os.path.join(os.path.dirname(home), "python-files")
    os.mkdir(workdir)
    files_both_ways(client, listener, bob, workdir)

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
    assert len(again.history("cli", 10, None)) == 4
    again.shutdown()
    print("Python app: all checks passed")


if __name__ == "__main__":
    main()
