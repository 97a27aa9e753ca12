//! Golden bytes: frames as the SPDY/3 draft lays them out, header blocks
//! as a zlib peer with the SPDY/3 dictionary (Python's zlib, `zdict`,
//! sync-flushed per frame, as Go's spdystream does) compresses them.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// kubectl's two streams for one connection to port 80, request 0: error, then data.
const ERROR_SYN: &str = "800300010000003c0000000100000000000078f9e3c6a7c202253a48f95b044aab4c16064092b308125b99a054cc68004e872545a989b9d0a2863515141100000000ffff";
const DATA_SYN: &str = "800300010000001600000003000000000000224b2ba8944a04000000ffff";

#[test]
fn the_dictionary_is_spdy3s() {
    assert_eq!(DICTIONARY.len(), 1423);
    let adler = DICTIONARY.iter().fold((1u32, 0u32), |(a, b), &x| {
        let a = (a + u32::from(x)) % 65521;
        (a, (b + a) % 65521)
    });
    assert_eq!((adler.1 << 16) | adler.0, 0xe3c6_a7c2);
}

#[test]
fn reads_kubectls_syn_streams_with_one_context() {
    let bytes = [hex(ERROR_SYN), hex(DATA_SYN)].concat();
    let (first, n) = parse(&bytes).unwrap().unwrap();
    let Frame::SynStream { stream_id: 1, associated_to: 0, priority: 0, flags: 0, block } = first else {
        panic!("{first:?}")
    };
    let (second, m) = parse(&bytes[n..]).unwrap().unwrap();
    assert_eq!(n + m, bytes.len());
    let Frame::SynStream { stream_id: 3, block: block2, .. } = second else { panic!("{second:?}") };
    let mut inflater = Inflater::default();
    let h = inflater.headers(&block).unwrap();
    assert_eq!(header(&h, "streamtype"), Some("error"));
    assert_eq!(header(&h, "port"), Some("80"));
    assert_eq!(header(&h, "requestid"), Some("0"));
    // The second block refers back to the first: the same context.
    let h2 = inflater.headers(&block2).unwrap();
    assert_eq!(header(&h2, "streamtype"), Some("data"));
    assert_eq!(header(&h2, "port"), Some("80"));
    // A fresh context cannot read it.
    assert!(Inflater::default().headers(&block2).is_err());
}

#[test]
fn incomplete_frames_wait_for_more() {
    let bytes = hex(ERROR_SYN);
    for cut in [0, 7, 8, bytes.len() - 1] {
        assert_eq!(parse(&bytes[..cut]), Ok(None), "{cut}");
    }
}

#[test]
fn writes_frames_byte_for_byte() {
    assert_eq!(syn_reply(1, 0, &[0xaa]), hex("800300020000000500000001aa"));
    assert_eq!(rst_stream(3, RST_CANCEL), hex("80030003000000080000000300000005"));
    assert_eq!(ping(7), hex("800300060000000400000007"));
    assert_eq!(goaway(5, GOAWAY_PROTOCOL_ERROR), hex("80030007000000080000000500000001"));
    assert_eq!(data(3, b"hi", false), hex("00000003000000026869"));
    assert_eq!(data(3, b"", true), hex("0000000301000000"));
    assert_eq!(encode_headers(&[("Port", "80")]), hex("0000000100000004706f7274000000023830"));
}

#[test]
fn frames_round_trip() {
    let cases = [
        (ping(0x0102_0304), Frame::Ping { id: 0x0102_0304 }),
        (rst_stream(9, RST_PROTOCOL_ERROR), Frame::RstStream { stream_id: 9, status: 1 }),
        (data(5, b"abc", true), Frame::Data { stream_id: 5, flags: FLAG_FIN, data: b"abc".to_vec() }),
        (goaway(3, 0), Frame::GoAway { last_good_stream_id: 3, status: 0 }),
        (syn_reply(1, FLAG_FIN, b"x"), Frame::SynReply { stream_id: 1, flags: FLAG_FIN, block: b"x".to_vec() }),
        // SETTINGS with no entries.
        (hex("800300040000000400000000"), Frame::Settings),
        (hex("80030009000000080000000100010000"), Frame::WindowUpdate { stream_id: 1, delta: 0x10000 }),
        (hex("8003000a00000000"), Frame::Other { kind: 10 }),
    ];
    for (bytes, want) in cases {
        assert_eq!(parse(&bytes), Ok(Some((want, bytes.len()))));
    }
}

#[test]
fn refuses_what_it_cannot_read() {
    assert_eq!(parse(&hex("8002000100000000")), Err(FrameError::Version(2)));
    assert_eq!(parse(&hex("8003000100ffffff")), Err(FrameError::TooLarge { kind: 1, len: 0xff_ffff }));
    assert_eq!(parse(&hex("8003000600000002abcd")), Err(FrameError::TooShort { kind: 6, len: 2 }));
    assert!(decode_headers(&hex("0000000200000004706f7274")).is_err());
    assert!(Inflater::default().headers(b"not zlib at all").is_err());
}

#[test]
fn our_header_blocks_read_back_in_order() {
    let (mut d, mut i) = (Deflater::default(), Inflater::default());
    for n in 0..3 {
        let port = (8080 + n).to_string();
        let block = d.block(&[("streamType", "data"), ("port", &port)]);
        let h = i.headers(&block).unwrap();
        assert_eq!(h, vec![("streamtype".into(), "data".into()), ("port".into(), port)]);
    }
    assert_eq!(i.headers(&d.block(&[])).unwrap(), vec![]);
}
