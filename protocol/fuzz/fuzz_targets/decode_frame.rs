//! Feeds arbitrary bytes to the frame decoder in both directions: it must return a frame, ask
//! for more bytes, or return an error, and never panic or allocate past the frame limit.
#![no_main]

use hush_protocol::codec::{decode_frame, encode_frame};
use hush_protocol::{ClientFrame, RelayFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, _))) = decode_frame::<ClientFrame>(data) {
        // Whatever decodes must encode again and decode to the same value.
        let bytes = encode_frame(&frame).expect("a decoded frame re-encodes");
        let (again, _) = decode_frame::<ClientFrame>(&bytes).unwrap().unwrap();
        assert_eq!(again, frame);
    }
    if let Ok(Some((frame, _))) = decode_frame::<RelayFrame>(data) {
        let bytes = encode_frame(&frame).expect("a decoded frame re-encodes");
        let (again, _) = decode_frame::<RelayFrame>(&bytes).unwrap().unwrap();
        assert_eq!(again, frame);
    }
});
