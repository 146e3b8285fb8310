// A Kotlin (JVM) app chatting with the hush CLI through a relay, through the generated UniFFI
// bindings and JNA: blocking calls, suspend calls, the listener and the async event stream.
// Run by the Rust test kotlin_bindings_work_sync_and_async_on_the_jvm, which passes
// HUSH_APP_HOME, HUSH_RELAY, HUSH_PEER_INVITE and HUSH_CLI in the environment.

import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import uniffi.hush_ffi.*

fun fail(why: String): Nothing {
    System.err.println("FAIL: $why")
    exitProcess(1)
}

fun env(name: String): String = System.getenv(name)?.takeIf { it.isNotEmpty() } ?: fail("$name is not set")

class Collector : HushListener {
    val events = LinkedBlockingQueue<HushEvent>()

    override fun onEvent(event: HushEvent) {
        events.put(event)
    }
}

fun Collector.waitFor(what: String, matches: (HushEvent) -> Boolean): HushEvent {
    while (true) {
        val event = events.poll(20, TimeUnit.SECONDS) ?: fail("no $what within 20 s")
        println("event: $event")
        if (matches(event)) return event
    }
}

fun cli(vararg args: String): String {
    val quoted = args.joinToString(" ") { "'" + it.replace("'", "'\\''") + "'" }
    val process = ProcessBuilder("sh", "-c", env("HUSH_CLI") + " " + quoted)
        .redirectErrorStream(true)
        .start()
    val output = process.inputStream.bufferedReader().readText()
    if (process.waitFor() != 0) fail("hush ${args.toList()}: $output")
    return output
}

fun main() {
    val home = env("HUSH_APP_HOME")
    check(!homeExists(home))
    val key = ByteArray(32) { (it * 3 + 5).toByte() }
    val client = HushClient.createWithKey(home, key)

    // Blocking calls.
    val me = client.initAccount(env("HUSH_RELAY"), "Kay")
    check(me.invite.startsWith("hush1:")) { me }
    val peer = client.addContact(env("HUSH_PEER_INVITE"), "cli")
    check(client.contacts().map { it.alias } == listOf("cli"))
    try {
        client.sendText("nobody", "hello?")
        fail("sending to an unknown contact succeeded")
    } catch (error: HushException.UnknownContact) {
        println("expected error: ${error.message}")
    }

    val collector = Collector()
    client.setListener(collector)
    client.goOnline()
    collector.waitFor("connection") { it is HushEvent.Connection && it.state is HushConnectionState.Connected }

    runBlocking {
        // Suspend calls.
        val sent = client.sendTextAsync("cli", "hello from Kotlin")
        check(sent.status == HushStatus.QUEUED) { sent }
        collector.waitFor("stored status") {
            it is HushEvent.MessageStatus && it.message.id == sent.id && it.message.status == HushStatus.STORED
        }
        check("hello from Kotlin" in cli("--json", "sync"))

        // Events as a suspend stream once the listener is removed.
        client.setListener(null)
        cli("send", "Kay", "hi Kotlin, this is the CLI")
        val reply = withTimeout(20_000) {
            var event: HushEvent?
            do {
                event = client.nextEventAsync() ?: fail("the event stream ended")
                println("async event: $event")
            } while (event !is HushEvent.Message)
            event
        }
        check(reply.message.text == "hi Kotlin, this is the CLI") { reply }
        check(reply.message.conversation == peer.mailbox) { reply }

        val page = client.historyAsync("cli", 1u, null)
        check(page.single().text == "hi Kotlin, this is the CLI") { page }
        val older = client.historyAsync("cli", 10u, page.single().id)
        check(older.map { it.text } == listOf("hello from Kotlin")) { older }
        check(client.searchAsync("kotlin").size == 2)
        check(client.conversationsAsync().first().lastMessage?.text == "hi Kotlin, this is the CLI")
        check(client.whoamiAsync().name == "Kay")
    }

    // Groups.
    val group = client.createGroup("kt", listOf("cli"))
    check(group.name == "kt" && group.myRole == HushRole.OWNER && group.members.size == 2) { group }
    check(client.groups().map { it.conversation } == listOf(group.conversation))
    runBlocking {
        val info = client.groupInfoAsync(group.conversation)
        check(info.members.map { it.alias }.sorted() == listOf("cli", "me")) { info }
    }

    // Polling, for apps without a listener: nothing pending now.
    check(client.pollEvent(50u).let { it == null || it !is HushEvent.Message })
    check(client.safetyNumber("cli").digits.replace(" ", "").length == 60)
    client.shutdown()
    try {
        client.contacts()
        fail("a closed client answered")
    } catch (error: HushException.Closed) {
        println("expected error: ${error.message}")
    }
    client.close()
    HushClient.openWithKey(home, key).use { again ->
        check(again.history("cli", 10u, null).size == 2)
        again.shutdown()
    }
    println("Kotlin app: all checks passed")
}
