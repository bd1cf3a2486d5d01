package server

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/definitions"
)

// Definitions in the management API: GET /api/definitions[/VHOST]
// exports, POST imports (JSON, or the web UI's multipart form with a
// "file" field), with rabbit_mgmt_wm_definitions's behaviour;
// administrators only. The document itself is internal/definitions'.

// definitionPolicies gives the import and export the broker's policies
// (definitions_policies.go); nil leaves policies out.
var definitionPolicies func(*broker.Broker) definitions.PolicyStore

// importMu serialises imports: an import checks the whole document
// against the broker and then applies it, and another import in between
// would make the check stale.
var importMu sync.Mutex

func (s *Server) registerDefinitionsAPI() {
	s.mux.HandleFunc("GET /api/definitions", s.queryAuth(s.apiAuth(accessAdmin, s.exportDefinitions)))
	s.mux.HandleFunc("GET /api/definitions/{vhost}", s.queryAuth(s.apiAuth(accessAdmin, s.exportDefinitions)))
	s.mux.HandleFunc("POST /api/definitions", s.apiAuth(accessAdmin, s.importDefinitions))
	s.mux.HandleFunc("POST /api/definitions/{vhost}", s.apiAuth(accessAdmin, s.importDefinitions))
	// RabbitMQ's older name for the same resource, still routed by 3.x.
	s.mux.HandleFunc("GET /api/all-configuration", s.queryAuth(s.apiAuth(accessAdmin, s.exportDefinitions)))
	s.mux.HandleFunc("POST /api/all-configuration", s.apiAuth(accessAdmin, s.importDefinitions))
}

// queryAuth takes credentials from ?auth=BASE64(user:pass) when the
// request has no Authorization header: RabbitMQ's web UI downloads the
// definitions file through a plain link, which cannot carry a header.
func (s *Server) queryAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a := r.URL.Query().Get("auth"); a != "" && r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Basic "+a)
		}
		h(w, r)
	}
}

func (s *Server) definitionsExporter() *definitions.Exporter {
	return &definitions.Exporter{Broker: s.Broker, Users: s.Users, Policies: definitionPolicies, ProductVersion: Version}
}

func (s *Server) definitionsImporter() *definitions.Importer {
	return &definitions.Importer{Broker: s.Broker, Users: s.Users, Policies: definitionPolicies, Log: s.log,
		NewScratch: func() *broker.Broker {
			return broker.New(broker.Config{MaxConsumersPerSession: s.cfg.ConsumersPerChannel, MaxQueues: s.cfg.MaxQueues,
				MaxDedupCacheSize: s.cfg.MaxDedupCacheSize, Logger: zerolog.Nop()})
		}}
}

// exportDefinitions answers the whole broker's definitions, or one
// vhost's (a vhost that does not exist is RabbitMQ's 400
// vhost_not_found). ?download=NAME makes it an attachment.
func (s *Server) exportDefinitions(w http.ResponseWriter, r *http.Request) {
	var doc any
	if vhost := r.PathValue("vhost"); vhost != "" {
		d, ok := s.definitionsExporter().ExportVHost(vhost)
		if !ok {
			badRequest(w, "vhost_not_found")
			return
		}
		doc = d
	} else {
		doc = s.definitionsExporter().Export()
	}
	if name := r.URL.Query().Get("download"); name != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	writeJSON(w, http.StatusOK, doc)
}

// importResponse is the answer to an import that left something out:
// 200 with what and why. An import that took everything is RabbitMQ's
// 204 with no body.
type importResponse struct {
	Skipped []definitions.Skipped `json:"skipped"`
}

// importDefinitions imports a document posted as JSON or as the web
// UI's form (field "file"; with a "redirect" field the answer is a 303
// to it, as RabbitMQ's).
func (s *Server) importDefinitions(w http.ResponseWriter, r *http.Request) {
	raw, redirect, ok := s.readDefinitions(w, r)
	if !ok {
		return
	}
	// As RabbitMQ: the document is parsed before the vhost is looked up.
	doc, err := definitions.Parse(raw)
	if err != nil {
		s.log.Error().Err(err).Str("by", userOf(r).Name).Msg("definitions: cannot parse the uploaded document")
		badRequest(w, definitionsReason(err))
		return
	}
	vhost := r.PathValue("vhost")
	if _, found := s.Broker.VHost(vhost); vhost != "" && !found {
		apiError(w, http.StatusNotFound, "not_found", "vhost_not_found")
		return
	}
	importMu.Lock()
	res, err := s.definitionsImporter().Import(doc, vhost, userOf(r).Name)
	importMu.Unlock()
	if err != nil {
		var de *definitions.Error
		if errors.As(err, &de) {
			s.log.Error().Err(err).Str("vhost", vhost).Str("by", userOf(r).Name).Msg("definitions: import refused")
			badRequest(w, de.Reason)
			return
		}
		s.serverError(w, r, err)
		return
	}
	switch {
	case redirect != "":
		// As given, as RabbitMQ's: the browser resolves a relative one.
		w.Header().Set("Location", redirect)
		w.WriteHeader(http.StatusSeeOther)
	case len(res.Skipped) > 0:
		writeJSON(w, http.StatusOK, importResponse{Skipped: res.Skipped})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func definitionsReason(err error) any {
	var de *definitions.Error
	if errors.As(err, &de) {
		return de.Reason
	}
	return err.Error()
}

// readDefinitions reads the posted document, at most max-definitions-size
// bytes: the body, or the "file" field of a multipart form. On failure
// the 400 has been written and ok is false.
func (s *Server) readDefinitions(w http.ResponseWriter, r *http.Request) (raw []byte, redirect string, ok bool) {
	limit := int64(s.cfg.MaxDefinitionsSize)
	body := http.MaxBytesReader(w, r.Body, limit)
	tooBig := func(err error) bool {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			s.log.Warn().Int64("limit", limit).Str("by", userOf(r).Name).
				Msg("definitions: the uploaded document is larger than max-definitions-size")
			badRequest(w, "Exceeded HTTP request body size limit")
			return true
		}
		return false
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		raw, err := io.ReadAll(body)
		if err != nil {
			if !tooBig(err) {
				badRequest(w, "cannot read the request body: "+err.Error())
			}
			return nil, "", false
		}
		return raw, "", true
	}
	mr := multipart.NewReader(body, params["boundary"])
	var file []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !tooBig(err) {
				badRequest(w, "cannot read the form: "+err.Error())
			}
			return nil, "", false
		}
		data, err := io.ReadAll(part)
		if err != nil {
			if !tooBig(err) {
				badRequest(w, "cannot read the form: "+err.Error())
			}
			return nil, "", false
		}
		switch part.FormName() {
		case "file":
			file = data
		case "redirect":
			redirect = string(bytes.TrimSpace(data))
		}
	}
	if file == nil {
		badRequest(w, "the form has no \"file\" field")
		return nil, "", false
	}
	// Only a reference within this site ("#/queues", "/", "../#/x"): an
	// open redirect would send the browser anywhere a crafted form says.
	if u, err := url.Parse(redirect); err != nil || u.Scheme != "" || u.Host != "" ||
		strings.HasPrefix(redirect, "//") || strings.ContainsAny(redirect, "\\\r\n") {
		redirect = ""
	}
	return file, redirect, true
}
