//! `uniffi-bindgen`: generates the Kotlin, Swift and Python bindings from the built library.
//!
//! Built from this crate so the generator's UniFFI version is always the library's:
//!
//! ```text
//! cargo build -p hush-ffi
//! cargo run -p hush-ffi --bin uniffi-bindgen -- generate \
//!     --library target/debug/libhush_ffi.so --language kotlin --out-dir bindings/kotlin
//! ```

fn main() {
    uniffi::uniffi_bindgen_main()
}
