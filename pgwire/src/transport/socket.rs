//! Where a session connects: a TCP host and port, or — as libpq does when
//! the host is an absolute path — the Unix-domain socket
//! `<directory>/.s.PGSQL.<port>` of a server on the same machine.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::MIN_TIMEOUT;
use crate::PgError;

/// An address a session connects to (also the one cancel requests go to).
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// A resolved TCP address.
    Tcp(SocketAddr),
    /// The path of a Unix-domain socket.
    Unix(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(a) => write!(f, "{a}"),
            Target::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The Unix-domain socket a host names, libpq's way: a host that is an
/// absolute path is the directory the server's socket `.s.PGSQL.<port>`
/// is in. `None` for a host name or IP address.
pub(crate) fn unix_socket_path(host: &str, port: u16) -> Option<PathBuf> {
    host.starts_with('/')
        .then(|| Path::new(host).join(format!(".s.PGSQL.{port}")))
}

/// How a session is named in messages: `host:port`, or the socket's path.
pub(crate) fn peer_name(host: &str, port: u16) -> String {
    match unix_socket_path(host, port) {
        Some(p) => p.display().to_string(),
        None => format!("{host}:{port}"),
    }
}

/// A connected socket of either kind.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    /// Connects to the first of `host`'s addresses that answers before
    /// `deadline` (a Unix-domain socket connects at once or fails).
    pub(crate) fn connect(
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<(Socket, Target), PgError> {
        let peer = peer_name(host, port);
        if let Some(path) = unix_socket_path(host, port) {
            let s = UnixStream::connect(&path)
                .map_err(|e| PgError::io(format!("could not connect to {peer}"), e))?;
            return Ok((Socket::Unix(s), Target::Unix(path)));
        }
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| PgError::io(format!("could not resolve {host}"), e))?
            .collect();
        let mut last_err = None;
        for addr in addrs {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(MIN_TIMEOUT);
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok((Socket::Tcp(s), Target::Tcp(addr)));
                }
                Err(e) => last_err = Some(e),
            }
        }
        let e = last_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "host resolved to no address")
        });
        Err(PgError::io(format!("could not connect to {peer}"), e))
    }

    /// Connects to an address already resolved (cancel requests).
    pub(crate) fn connect_to(target: &Target, timeout: Duration) -> io::Result<Socket> {
        match target {
            Target::Tcp(a) => TcpStream::connect_timeout(a, timeout).map(Socket::Tcp),
            Target::Unix(p) => UnixStream::connect(p).map(Socket::Unix),
        }
    }

    /// The TCP socket, for TLS (which runs over TCP only).
    pub(crate) fn into_tcp(self) -> Result<TcpStream, Socket> {
        match self {
            Socket::Tcp(s) => Ok(s),
            other => Err(other),
        }
    }

    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(t),
            Socket::Unix(s) => s.set_read_timeout(t),
        }
    }

    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_write_timeout(t),
            Socket::Unix(s) => s.set_write_timeout(t),
        }
    }

    pub(crate) fn try_clone(&self) -> io::Result<Socket> {
        Ok(match self {
            Socket::Tcp(s) => Socket::Tcp(s.try_clone()?),
            Socket::Unix(s) => Socket::Unix(s.try_clone()?),
        })
    }

    pub(crate) fn shutdown(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Both),
            Socket::Unix(s) => s.shutdown(Shutdown::Both),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            Socket::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.flush(),
            Socket::Unix(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absolute_host_is_a_socket_directory() {
        assert_eq!(
            unix_socket_path("/var/run/postgresql", 5433),
            Some(PathBuf::from("/var/run/postgresql/.s.PGSQL.5433"))
        );
        assert_eq!(unix_socket_path("db.example.com", 5432), None);
        assert_eq!(unix_socket_path("127.0.0.1", 5432), None);
        assert_eq!(peer_name("/tmp", 5432), "/tmp/.s.PGSQL.5432");
        assert_eq!(peer_name("localhost", 5432), "localhost:5432");
    }

    #[test]
    fn a_missing_socket_is_an_error_naming_its_path() {
        let dir = std::env::temp_dir().join(format!("pgwire-no-server-{}", std::process::id()));
        let host = dir.to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(1);
        let err = Socket::connect(&host, 5999, deadline).expect_err("no server there");
        let text = err.to_string();
        assert!(
            text.contains(&format!("{host}/.s.PGSQL.5999")),
            "error names the socket: {text}"
        );
    }
}
