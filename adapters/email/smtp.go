package email

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"time"
)

// send delivers one e-mail to one recipient over SMTP, protected as
// Config.TLS says: implicit TLS, STARTTLS (a server that does not offer it
// is an error: never a silent fall back to plain text) or, only when
// configured, none; AUTH PLAIN when a username is set.
func (a *Adapter) send(ctx context.Context, to string, msg []byte) (err error) {
	from, err := mail.ParseAddress(a.cfg.From)
	if err != nil {
		return permanentf("invalid sender address: %v", err)
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return permanentf("invalid recipient address: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(a.cfg.Host, strconv.Itoa(a.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// A cancelled context interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if a.cfg.TLS == TLSImplicit {
		conn = tls.Client(conn, a.tlsConfig())
	}
	c, err := smtp.NewClient(conn, a.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	if err := c.Hello(a.cfg.HelloName); err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	if a.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp starttls: %s does not offer STARTTLS, and email.tls requires it (set email.tls = \"none\" only for a relay on this machine)", addr)
		}
		if err := c.StartTLS(a.tlsConfig()); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if a.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp auth: server %s offers no AUTH", addr)
		}
		if err := c.Auth(smtp.PlainAuth("", a.cfg.Username, a.cfg.Password, a.cfg.Host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("smtp rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT does
		// not un-send it.
		a.log.Debug("smtp quit failed", "err", err)
	}
	return nil
}

func (a *Adapter) tlsConfig() *tls.Config {
	var c *tls.Config
	if a.cfg.TLSConfig != nil {
		c = a.cfg.TLSConfig.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		c.ServerName = a.cfg.Host
	}
	return c
}
