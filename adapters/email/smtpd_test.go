package email

import (
	"bufio"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
)

// received is one e-mail accepted by the test SMTP server.
type received struct {
	From, To string
	Data     string
	Auth     string // decoded AUTH PLAIN response, "" without AUTH
}

// smtpd is a minimal SMTP server on loopback: EHLO/HELO, AUTH PLAIN, MAIL,
// RCPT, DATA, RSET, NOOP, QUIT. No TLS.
type smtpd struct {
	ln   net.Listener
	mail chan received
	// rcptReply, when set, answers RCPT instead of "250 OK" (e.g. "550 no
	// such user", "451 try later").
	mu        sync.Mutex
	rcptReply string
	wg        sync.WaitGroup
}

func startSMTPD(t *testing.T) *smtpd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpd{ln: ln, mail: make(chan received, 16)}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpd) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpd) setRcptReply(r string) {
	s.mu.Lock()
	s.rcptReply = r
	s.mu.Unlock()
}

func (s *smtpd) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.session(c) }()
	}
}

func (s *smtpd) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) bool { _, err := c.Write([]byte(line + "\r\n")); return err == nil }
	if !say("220 test ESMTP ready") {
		return
	}
	var cur received
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO":
			say("250-test greets you")
			say("250-8BITMIME")
			say("250 AUTH PLAIN")
		case "HELO":
			say("250 test")
		case "AUTH":
			f := strings.Fields(line)
			if len(f) == 3 && strings.EqualFold(f[1], "PLAIN") {
				b, _ := base64.StdEncoding.DecodeString(f[2])
				cur.Auth = string(b)
				say("235 2.7.0 Authentication successful")
			} else {
				say("504 unsupported")
			}
		case "MAIL":
			cur.From = strings.TrimPrefix(line[len("MAIL "):], "FROM:")
			say("250 OK")
		case "RCPT":
			s.mu.Lock()
			reply := s.rcptReply
			s.mu.Unlock()
			if reply != "" {
				say(reply)
				continue
			}
			cur.To = strings.TrimPrefix(line[len("RCPT "):], "TO:")
			say("250 OK")
		case "DATA":
			say("354 end with <CRLF>.<CRLF>")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, ".")) // dot-unstuffing
			}
			cur.Data = b.String()
			s.mail <- cur
			cur = received{Auth: cur.Auth}
			say("250 OK queued")
		case "RSET":
			cur = received{}
			say("250 OK")
		case "NOOP":
			say("250 OK")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown command")
		}
	}
}
