//! The framing of every packet between peers.
//!
//! One tag byte says what follows, so that the transport's own control
//! packets (pings) share the data channels with `bevy_replicon`'s messages.
//! Anything that does not parse is [`MalformedPacket`]: a peer can send any
//! bytes, and none of them may panic the receiver.

use bytes::{BufMut, Bytes, BytesMut};

const TAG_REPLICON: u8 = 0;
const TAG_PING: u8 = 1;
const TAG_PONG: u8 = 2;
const TAG_BYE: u8 = 3;

/// A decoded packet.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Packet {
    /// A `bevy_replicon` message on one of its channels.
    Replicon {
        /// Index into replicon's channel list of the sender's side.
        channel: u8,
        /// The message, untouched.
        message: Bytes,
    },
    /// A round-trip probe; answer with [`Packet::Pong`] carrying the same number.
    Ping(u32),
    /// The answer to [`Packet::Ping`].
    Pong(u32),
    /// The sender leaves on purpose: its link going down next is no
    /// network failure, and it will not come back.
    Bye,
}

/// Bytes that are not a packet of this protocol.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MalformedPacket;

impl Packet {
    /// Encodes for the wire.
    pub fn encode(&self) -> Bytes {
        match self {
            Packet::Replicon { channel, message } => {
                let mut buf = BytesMut::with_capacity(2 + message.len());
                buf.put_u8(TAG_REPLICON);
                buf.put_u8(*channel);
                buf.put_slice(message);
                buf.freeze()
            }
            Packet::Ping(seq) => Self::probe(TAG_PING, *seq),
            Packet::Pong(seq) => Self::probe(TAG_PONG, *seq),
            Packet::Bye => Bytes::from_static(&[TAG_BYE]),
        }
    }

    fn probe(tag: u8, seq: u32) -> Bytes {
        let mut buf = BytesMut::with_capacity(5);
        buf.put_u8(tag);
        buf.put_u32_le(seq);
        buf.freeze()
    }

    /// Decodes what a peer sent.
    pub fn decode(bytes: Bytes) -> Result<Self, MalformedPacket> {
        match bytes.first() {
            Some(&TAG_REPLICON) if bytes.len() >= 2 => Ok(Packet::Replicon {
                channel: bytes[1],
                message: bytes.slice(2..),
            }),
            Some(&tag @ (TAG_PING | TAG_PONG)) if bytes.len() == 5 => {
                let seq = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                Ok(if tag == TAG_PING {
                    Packet::Ping(seq)
                } else {
                    Packet::Pong(seq)
                })
            }
            Some(&TAG_BYE) if bytes.len() == 1 => Ok(Packet::Bye),
            _ => Err(MalformedPacket),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for packet in [
            Packet::Replicon {
                channel: 3,
                message: Bytes::from_static(b"hello"),
            },
            Packet::Replicon {
                channel: 0,
                message: Bytes::new(),
            },
            Packet::Ping(7),
            Packet::Pong(u32::MAX),
            Packet::Bye,
        ] {
            assert_eq!(Packet::decode(packet.encode()), Ok(packet));
        }
    }

    #[test]
    fn garbage_is_malformed() {
        for bytes in [
            &b""[..],
            &[0],
            &[1, 2, 3],
            &[2, 0, 0, 0, 0, 0],
            &[9, 9],
            &[3, 0],
        ] {
            assert_eq!(
                Packet::decode(Bytes::copy_from_slice(bytes)),
                Err(MalformedPacket),
                "{bytes:?}"
            );
        }
    }
}
