package visitor

import (
	"context"
	"fmt"
	"net/http"

	"github.com/chatbridge/chatbridge/bridge"
)

// sessionRequest is the body of POST /api/v1/sessions (all optional).
type sessionRequest struct {
	Name     string    `json:"name"`
	Email    string    `json:"email"`
	Locale   string    `json:"locale"`
	Identity *Identity `json:"identity"`
}

// sessionResponse is the answer to POST /api/v1/sessions.
type sessionResponse struct {
	Token     string `json:"token"`
	VisitorID string `json:"visitor_id"`
}

// handleSession starts a visitor, or resumes the one of a valid signed
// identity, and returns a new bearer token (201).
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	var req sessionRequest
	if err := s.decode(w, r, &req, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := s.sessionInput(r, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.limited(s.sessions, clientIP(r, s.cfg.TrustProxyHeaders), "new chat sessions from your address"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Identity != nil {
		if err := verifyIdentity(*req.Identity, s.cfg.IdentitySecret, s.engine.Now()); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := checkLifetime(*req.Identity, s.cfg.IdentityMaxLifetime, s.engine.Now()); err != nil {
			s.writeError(w, r, err)
			return
		}
		in.ExternalID = req.Identity.UserID
	}
	token, v, err := s.engine.StartSession(r.Context(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sessionResponse{Token: token, VisitorID: v.ID})
}

// sessionInput validates the request's details. A signed identity's name
// and e-mail take precedence over the unsigned ones.
func (s *Server) sessionInput(r *http.Request, req sessionRequest) (bridge.SessionInput, error) {
	if req.Identity != nil && s.cfg.IdentitySecret == "" {
		return bridge.SessionInput{}, errBadRequest("signed identities are not enabled on this server (no identity secret is configured)")
	}
	name, email := req.Name, req.Email
	if req.Identity != nil {
		if req.Identity.Name != "" {
			name = req.Identity.Name
		}
		if req.Identity.Email != "" {
			email = req.Identity.Email
		}
	}
	var in bridge.SessionInput
	var err error
	if in.Name, err = cleanLine("name", name, maxNameBytes); err != nil {
		return in, err
	}
	if in.Email, err = cleanEmail("email", email); err != nil {
		return in, err
	}
	if in.Locale, err = cleanLocale(req.Locale); err != nil {
		return in, err
	}
	in.UserAgent = truncate(r.UserAgent(), 512)
	in.IP = clientIP(r, s.cfg.TrustProxyHeaders)
	return in, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// pageViewRequest is the body of POST /api/v1/pageviews.
type pageViewRequest struct {
	URL      string `json:"url"`
	Title    string `json:"title"`
	Referrer string `json:"referrer"`
}

// handlePageView records a page view of the visitor (204).
func (s *Server) handlePageView(w http.ResponseWriter, r *http.Request) {
	v, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req pageViewRequest
	if err := s.decode(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	pv := bridge.PageView{}
	if pv.URL, err = cleanPageURL("url", req.URL, true); err == nil {
		if pv.Referrer, err = cleanPageURL("referrer", req.Referrer, false); err == nil {
			pv.Title, err = cleanLine("title", req.Title, maxTitleBytes)
		}
	}
	if err == nil {
		err = s.limited(s.pageviews, v.ID, "page views")
	}
	if err == nil {
		err = s.engine.RecordPageView(r.Context(), v.ID, pv)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// messageRequest is the body of POST /api/v1/messages.
type messageRequest struct {
	ClientID string `json:"client_id"`
	Text     string `json:"text"`
}

// messageResponse is the answer to POST /api/v1/messages.
type messageResponse struct {
	Seq            uint64 `json:"seq"`
	ConversationID string `json:"conversation_id"`
}

// maxClientIDBytes matches bridge.Engine.VisitorMessage.
const maxClientIDBytes = 128

// handlePostMessage stores a visitor message (200). A retry with the same
// client_id returns the first answer and stores nothing.
func (s *Server) handlePostMessage(w http.ResponseWriter, r *http.Request) {
	v, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req messageRequest
	if err := s.decode(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	msg, err := s.postMessage(r.Context(), v, clientIP(r, s.cfg.TrustProxyHeaders), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, messageResponse{Seq: msg.PublicSeq, ConversationID: msg.ConversationID})
}

// postMessage validates and rate-limits a message before handing it to the
// engine, so that a refused message stores nothing at all.
func (s *Server) postMessage(ctx context.Context, v bridge.Visitor, ip string, req messageRequest) (bridge.Message, error) {
	if err := validateMessage(req, s.cfg.MaxMessageBytes); err != nil {
		return bridge.Message{}, err
	}
	check, err := s.engine.CheckMessage(ctx, v.ID, req.ClientID)
	if err != nil {
		return bridge.Message{}, fmt.Errorf("post message: %w", err)
	}
	if check.Duplicate != nil {
		// A retry: answer as the first time, without a write.
		return *check.Duplicate, nil
	}
	openID := check.OpenID
	if openID == "" {
		err = s.limited(s.conversations, ip, "new conversations from your address")
	} else {
		err = s.limited(s.messages, openID, "messages in this conversation")
	}
	if err != nil {
		return bridge.Message{}, err
	}
	msg, err := s.engine.VisitorMessage(ctx, v.ID, req.ClientID, req.Text)
	if err != nil {
		return bridge.Message{}, err
	}
	if msg.ConversationID != openID {
		// The first message of a new conversation counts towards its rate.
		s.messages.allow(msg.ConversationID, s.engine.Now())
	}
	return msg, nil
}

// validateMessage checks a message request as the engine will, so that a
// refused message costs no rate-limit token and no transaction.
func validateMessage(req messageRequest, maxBytes int) error {
	if _, err := bridge.CheckText(req.Text, maxBytes); err != nil {
		return err
	}
	if req.ClientID == "" || len(req.ClientID) > maxClientIDBytes {
		return errBadRequest(fmt.Sprintf("client_id must be 1 to %d bytes (a random id per message, reused on retries)", maxClientIDBytes))
	}
	return nil
}

// handleClose ends the visitor's open conversation, if any (204).
func (s *Server) handleClose(w http.ResponseWriter, r *http.Request) {
	v, err := s.authenticate(r)
	if err == nil {
		err = s.engine.CloseByVisitor(r.Context(), v.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// visitorRequest is the body of PATCH/POST /api/v1/visitor.
type visitorRequest struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// visitorResponse is the visitor's details after an update.
type visitorResponse struct {
	VisitorID string `json:"visitor_id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
}

// handleVisitor sets the visitor's name and/or e-mail (the pre-chat form and
// the offline e-mail prompt) and returns them (200). Each change is a write
// and an event for every operator view, so they are rate-limited per
// visitor (Config.VisitorUpdatesPerMinute).
func (s *Server) handleVisitor(w http.ResponseWriter, r *http.Request) {
	v, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req visitorRequest
	if err := s.decode(w, r, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, err := cleanLine("name", req.Name, maxNameBytes)
	if err == nil {
		req.Email, err = cleanEmail("email", req.Email)
	}
	if err == nil && name == "" && req.Email == "" {
		err = errBadRequest("send a name, an email or both")
	}
	if err == nil {
		// After validation, so that a refused body costs no token.
		err = s.limited(s.updates, v.ID, "changes to your details")
	}
	if err == nil {
		v, err = s.engine.UpdateVisitor(r.Context(), v.ID, name, req.Email)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, visitorResponse{VisitorID: v.ID, Name: v.Name, Email: v.Email})
}

// handleTyping tells the operators that the visitor is typing (204). Calls
// closer than 50 ms apart are dropped silently.
func (s *Server) handleTyping(w http.ResponseWriter, r *http.Request) {
	v, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.visitorTyping(r.Context(), v); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// visitorTyping publishes a typing event for the visitor's open
// conversation, at most one per typingInterval.
func (s *Server) visitorTyping(ctx context.Context, v bridge.Visitor) error {
	if ok, _ := s.typing.allow(v.ID, s.engine.Now()); !ok {
		return nil
	}
	if err := s.engine.VisitorTyping(ctx, v.ID, v.DisplayName()); err != nil {
		return fmt.Errorf("typing: %w", err)
	}
	return nil
}
