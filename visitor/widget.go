package visitor

import "net/http"

// Owned by the widget work; serves /widget.js and the demo page.
func (s *Server) mountWidget(mux *http.ServeMux) {}
