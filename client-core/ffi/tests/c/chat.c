/*
 * A C app chatting with the hush CLI through a relay, using only hush.h and libhush_ffi.
 * Run by the Rust test c_program_chats_with_the_cli, which passes in the environment:
 *   HUSH_APP_HOME  a directory for this app's home
 *   HUSH_RELAY     the relay address
 *   HUSH_PEER_INVITE  the CLI user's invite code
 *   HUSH_CLI       a shell command prefix running `hush --home PEER_HOME`
 * It polls for events (the Python test uses the callback).
 */
#include "hush.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, int32_t code) {
    const char *message = hush_last_error_message();
    fprintf(stderr, "FAIL: %s: code %d: %s\n", what, (int)code, message ? message : "(no message)");
    exit(1);
}

#define CHECK(call)                 \
    do {                            \
        int32_t code_ = (call);     \
        if (code_ != HUSH_OK) {     \
            fail(#call, code_);     \
        }                           \
    } while (0)

static const char *env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "FAIL: %s is not set\n", name);
        exit(1);
    }
    return value;
}

/* Polls events until one contains every needle; frees the others. */
static char *wait_for(HushClient *client, const char *needle, const char *needle2) {
    for (int rounds = 0; rounds < 200; rounds++) {
        char *event = NULL;
        CHECK(hush_client_poll_event(client, 100, &event));
        if (event == NULL) {
            continue;
        }
        printf("event: %s\n", event);
        if (strstr(event, needle) != NULL && (needle2 == NULL || strstr(event, needle2) != NULL)) {
            return event;
        }
        hush_string_free(event);
    }
    fprintf(stderr, "FAIL: no event with %s %s within 20 s\n", needle, needle2 ? needle2 : "");
    exit(1);
}

/* Fails unless `json` contains `needle` (and, if given, not `absent`). */
static void expect(const char *what, const char *json, const char *needle, const char *absent) {
    if (strstr(json, needle) == NULL || (absent != NULL && strstr(json, absent) != NULL)) {
        fprintf(stderr, "FAIL: %s: wanted %s%s%s in %s\n", what, needle,
                absent ? " and not " : "", absent ? absent : "", json);
        exit(1);
    }
}

/* Copies the first message id ("id":"<32 hex>") of `json` into `id` (33 bytes). */
static void first_id(const char *json, char *id) {
    const char *at = strstr(json, "\"id\":\"");
    if (at == NULL || strlen(at + 6) < 32) {
        fprintf(stderr, "FAIL: no id in %s\n", json);
        exit(1);
    }
    memcpy(id, at + 6, 32);
    id[32] = '\0';
}

/* Runs the CLI with `args` and returns its output (caller frees). */
static char *cli(const char *args) {
    char command[4096];
    snprintf(command, sizeof command, "%s %s", env("HUSH_CLI"), args);
    FILE *pipe = popen(command, "r");
    if (pipe == NULL) {
        fprintf(stderr, "FAIL: cannot run %s\n", command);
        exit(1);
    }
    size_t size = 0, capacity = 4096;
    char *output = malloc(capacity);
    size_t got;
    while ((got = fread(output + size, 1, capacity - size - 1, pipe)) > 0) {
        size += got;
        if (capacity - size < 2) {
            capacity *= 2;
            output = realloc(output, capacity);
        }
    }
    output[size] = '\0';
    int status = pclose(pipe);
    if (status != 0) {
        fprintf(stderr, "FAIL: %s exited with %d: %s\n", command, status, output);
        exit(1);
    }
    return output;
}

/* Reads a whole file; *len gets its size (caller frees). */
static unsigned char *read_file(const char *path, size_t *len) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "FAIL: cannot open %s\n", path);
        exit(1);
    }
    size_t capacity = 1 << 16, size = 0, got;
    unsigned char *bytes = malloc(capacity);
    while ((got = fread(bytes + size, 1, capacity - size, file)) > 0) {
        size += got;
        if (size == capacity) {
            capacity *= 2;
            bytes = realloc(bytes, capacity);
        }
    }
    fclose(file);
    *len = size;
    return bytes;
}

/* A file sent from C and saved by the CLI: the same bytes arrive. */
static void send_a_file(HushClient *client, const char *home) {
    char source[4096], saved[4096], args[8192];
    snprintf(source, sizeof source, "%s.upload.bin", home);
    snprintf(saved, sizeof saved, "%s.saved-by-cli.bin", home);
    FILE *file = fopen(source, "wb");
    if (file == NULL) {
        fprintf(stderr, "FAIL: cannot write %s\n", source);
        exit(1);
    }
    unsigned long state = 12345;
    for (long i = 0; i < 150 * 1024 + 11; i++) {
        state = state * 1103515245UL + 12345UL;
        fputc((int)((state >> 16) & 0xff), file);
    }
    fclose(file);

    char *out = NULL;
    CHECK(hush_client_files(client, NULL, &out));
    expect("files before any arrived", out, "[]", NULL);
    hush_string_free(out);
    CHECK(hush_client_send_file(client, "cli", source, "from C", &out));
    expect("send_file", out, "\"status\":\"queued\"", NULL);
    expect("send_file", out, "\"state\":\"uploading\"", NULL);
    expect("send_file", out, "upload.bin\",\"size\":153611,", NULL);
    char file_message[33];
    first_id(out, file_message);
    hush_string_free(out);
    hush_string_free(wait_for(client, "\"type\":\"transfer\"", file_message));
    char *status = wait_for(client, "\"type\":\"message_status\"", file_message);
    expect("file message status", status, "\"status\":\"stored\"", NULL);
    expect("file message status", status, "\"state\":\"uploaded\"", NULL);
    hush_string_free(status);

    char *synced = cli("--json sync");
    expect("the CLI's sync", synced, file_message, NULL);
    free(synced);
    snprintf(args, sizeof args, "save %s '%s'", file_message, saved);
    free(cli(args));
    size_t sent_len = 0, saved_len = 0;
    unsigned char *sent_bytes = read_file(source, &sent_len);
    unsigned char *saved_bytes = read_file(saved, &saved_len);
    if (sent_len != 150 * 1024 + 11 || saved_len != sent_len ||
        memcmp(sent_bytes, saved_bytes, sent_len) != 0) {
        fprintf(stderr, "FAIL: the CLI saved %zu bytes, not the %zu sent\n", saved_len, sent_len);
        exit(1);
    }
    free(sent_bytes);
    free(saved_bytes);
}

int main(void) {
    printf("libhush_ffi %s\n", hush_version());

    /* Errors are codes with a message; a NULL handle is an error, not a crash. */
    char *out = NULL;
    if (hush_client_contacts(NULL, &out) != HUSH_ERR_INVALID_INPUT || out != NULL ||
        hush_last_error_message() == NULL) {
        fprintf(stderr, "FAIL: a NULL handle was not refused cleanly\n");
        return 1;
    }

    /* A home encrypted under an app-supplied key. */
    unsigned char key[32];
    for (int i = 0; i < 32; i++) {
        key[i] = (unsigned char)(i * 7 + 1);
    }
    const char *home = env("HUSH_APP_HOME");
    if (hush_home_exists(home)) {
        fprintf(stderr, "FAIL: the home exists before creation\n");
        return 1;
    }
    HushClient *client = NULL;
    CHECK(hush_client_create_with_key(home, key, sizeof key, &client));
    CHECK(hush_client_init_account(client, env("HUSH_RELAY"), "Cee", &out));
    printf("account: %s\n", out);
    hush_string_free(out);
    CHECK(hush_client_add_contact(client, env("HUSH_PEER_INVITE"), "cli", &out));
    hush_string_free(out);

    int32_t code = hush_client_send_text(client, "nobody", "hello?", &out);
    if (code != HUSH_ERR_UNKNOWN_CONTACT || out != NULL ||
        strstr(hush_last_error_message(), "nobody") == NULL) {
        fprintf(stderr, "FAIL: sending to an unknown contact gave %d\n", (int)code);
        return 1;
    }

    /* Online: connect, then send while receiving. */
    CHECK(hush_client_set_online(client, true));
    free(wait_for(client, "\"state\":\"connected\"", NULL));
    CHECK(hush_client_send_text(client, "cli", "hello from C", &out));
    if (strstr(out, "\"status\":\"queued\"") == NULL) {
        fprintf(stderr, "FAIL: send did not return the queued message: %s\n", out);
        return 1;
    }
    hush_string_free(out);
    hush_string_free(wait_for(client, "\"type\":\"message_status\"", "\"status\":\"stored\""));

    /* The CLI receives it, and answers. */
    char *synced = cli("--json sync");
    if (strstr(synced, "hello from C") == NULL) {
        fprintf(stderr, "FAIL: the CLI did not receive the message: %s\n", synced);
        return 1;
    }
    free(synced);
    free(cli("send Cee 'hi C, this is the CLI'"));
    hush_string_free(wait_for(client, "\"type\":\"message\"", "hi C, this is the CLI"));

    /* History pages, newest first. */
    CHECK(hush_client_history(client, "cli", 1, NULL, &out));
    if (strstr(out, "hi C, this is the CLI") == NULL) {
        fprintf(stderr, "FAIL: newest message: %s\n", out);
        return 1;
    }
    const char *id_at = strstr(out, "\"id\":\"");
    char before[33] = {0};
    if (id_at == NULL) {
        fprintf(stderr, "FAIL: no id in %s\n", out);
        return 1;
    }
    memcpy(before, id_at + 6, 32);
    hush_string_free(out);
    CHECK(hush_client_history(client, "cli", 10, before, &out));
    if (strstr(out, "hello from C") == NULL || strstr(out, "this is the CLI") != NULL) {
        fprintf(stderr, "FAIL: second page: %s\n", out);
        return 1;
    }
    hush_string_free(out);
    CHECK(hush_client_conversations(client, &out));
    printf("conversations: %s\n", out);
    hush_string_free(out);
    CHECK(hush_client_safety_number(client, "cli", &out));
    hush_string_free(out);
    send_a_file(client, home);

    /* Reading the conversation: one unread message, then none. */
    uint64_t unread = 99;
    CHECK(hush_client_mark_read(client, "cli", &unread));
    if (unread != 1) {
        fprintf(stderr, "FAIL: mark_read found %llu unread, not 1\n", (unsigned long long)unread);
        return 1;
    }
    CHECK(hush_client_mark_read(client, "cli", NULL));

    /* A group with the CLI user: create, write, list; then react to and edit the message. */
    const char *members[] = {"cli"};
    CHECK(hush_client_group_create(client, "cteam", members, 1, &out));
    expect("group create", out, "\"name\":\"cteam\"", NULL);
    expect("group create", out, "\"my_role\":\"owner\"", NULL);
    hush_string_free(out);
    CHECK(hush_client_send_text(client, "#cteam", "hello C group", &out));
    expect("group send", out, "\"conversation\":\"group:", NULL);
    char group_message[33];
    first_id(out, group_message);
    hush_string_free(out);
    hush_string_free(wait_for(client, "\"type\":\"message_status\"", group_message));
    CHECK(hush_client_groups(client, &out));
    expect("groups", out, "\"name\":\"cteam\"", NULL);
    expect("groups", out, "{\"alias\":\"cli\",\"role\":\"member\"}", NULL);
    hush_string_free(out);
    CHECK(hush_client_group_info(client, "#cteam", &out));
    expect("group info", out, "\"alias\":\"me\"", NULL);
    hush_string_free(out);
    CHECK(hush_client_conversations(client, &out));
    expect("conversations", out, "\"name\":\"#cteam\",\"is_group\":true", NULL);
    hush_string_free(out);
    CHECK(hush_client_react(client, group_message, "\xF0\x9F\x91\x8D", &out));
    expect("react", out, "\"reactions\":[{\"sender\":null,\"emoji\":\"\xF0\x9F\x91\x8D\"}]", NULL);
    hush_string_free(out);
    CHECK(hush_client_edit_message(client, group_message, "hello C group, edited", &out));
    expect("edit", out, "\"text\":\"hello C group, edited\"", "\"edited_at_ms\":null");
    hush_string_free(out);
    char *group_sync = cli("--json sync");
    expect("the CLI's sync", group_sync, "hello C group", NULL);
    expect("the CLI's sync", group_sync, "\"type\":\"edited\"", NULL);
    expect("the CLI's sync", group_sync, "\xF0\x9F\x91\x8D", NULL);
    free(group_sync);

    /* Disappearing messages and preferences. */
    uint64_t seconds = 99;
    CHECK(hush_client_set_timer(client, "#cteam", 60));
    CHECK(hush_client_timer(client, "#cteam", &seconds));
    if (seconds != 60) {
        fprintf(stderr, "FAIL: the timer is %llu s, not 60\n", (unsigned long long)seconds);
        return 1;
    }
    CHECK(hush_client_timer(client, "cli", &seconds));
    if (seconds != 0) {
        fprintf(stderr, "FAIL: the 1:1 timer is %llu s, not off\n", (unsigned long long)seconds);
        return 1;
    }
    CHECK(hush_client_set_preferences(client, "{\"receipts\":false}", &out));
    expect("set preferences", out, "\"receipts\":false", NULL);
    expect("set preferences", out, "\"max_group_size\":2000", NULL);
    hush_string_free(out);
    CHECK(hush_client_preferences(client, &out));
    expect("preferences", out, "\"receipts\":false", NULL);
    hush_string_free(out);
    if (hush_client_set_preferences(client, "[1]", &out) != HUSH_ERR_INVALID_INPUT || out != NULL) {
        fprintf(stderr, "FAIL: preferences that are not an object were accepted\n");
        return 1;
    }

    /* Close releases the home: it opens again with the same key. */
    CHECK(hush_client_close(client));
    if (hush_client_whoami(client, &out) != HUSH_ERR_CLOSED) {
        fprintf(stderr, "FAIL: a closed client still answered\n");
        return 1;
    }
    hush_client_free(client);
    CHECK(hush_client_open_with_key(home, key, sizeof key, &client));
    CHECK(hush_client_search(client, "from C", &out));
    if (strstr(out, "hello from C") == NULL) {
        fprintf(stderr, "FAIL: search after reopening: %s\n", out);
        return 1;
    }
    hush_string_free(out);
    hush_client_free(client);
    printf("C app: all checks passed\n");
    return 0;
}
