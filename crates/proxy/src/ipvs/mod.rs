//! The IPVS mode's kernel side: [`netlink`] and [`messages`] are pure
//! (messages as values, golden-byte tests); [`kernel`] opens the socket.

pub mod kernel;
pub mod messages;
pub mod netlink;
