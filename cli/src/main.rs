//! `hush`: the command-line Hush client (built out by the CLI issue).

fn main() {
    eprintln!("hush: the chat client is not built yet; see the project's open issues");
    std::process::exit(1);
}
