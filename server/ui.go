package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// The web UI (issue #14): plain HTML, CSS and ES modules in server/ui,
// embedded in the binary and served at / on the HTTP and HTTPS listeners
// (both use s.mux). There is no build step, so a fresh clone's `make run`
// serves it; the browser fetches nothing but these files and the
// management API (the Content-Security-Policy says so to the browser too).
//
// Caching without a bundler: every file gets a content hash at start-up.
// index.html (never cached without revalidation) names the stylesheet and
// the entry module with ?v=HASH and carries an import map that gives every
// module its ?v=HASH URL, so the modules' own relative imports are
// versioned as well. A request carrying the current hash may be cached for
// a year; any other is answered with no-cache and an ETag, so an upgraded
// broker never mixes old and new files.

//go:embed ui
var uiFiles embed.FS

// uiAsset is one embedded file, ready to serve.
type uiAsset struct {
	body  []byte
	ctype string
	hash  string // hex, 16 digits: the ?v= value and the ETag
}

// uiTypes are the content types of the files the UI has; a file of any
// other kind is not served (so nothing is left to sniffing).
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// uiSite is the UI's files by URL path, and index.html's CSP.
type uiSite struct {
	assets map[string]*uiAsset
	csp    string
}

func (s *Server) registerUI() {
	site, err := loadUI(uiFiles)
	if err != nil {
		// The files are compiled in: a failure here is a broken build.
		panic("server: web UI: " + err.Error())
	}
	// "/" takes every path no other route has; /api/ and the rest are
	// more specific and win.
	s.mux.Handle("/", site)
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// loadUI reads the embedded files and builds index.html's versioned form.
func loadUI(fsys fs.FS) (*uiSite, error) {
	site := &uiSite{assets: map[string]*uiAsset{}}
	err := fs.WalkDir(fsys, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := uiTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		site.assets[strings.TrimPrefix(p, "ui")] = &uiAsset{body: b, ctype: ctype, hash: hashOf(b)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	index := site.assets["/index.html"]
	if index == nil {
		return nil, fs.ErrNotExist
	}
	imports := map[string]string{}
	var modules []string
	for p, a := range site.assets {
		if strings.HasSuffix(p, ".js") {
			imports[p] = p + "?v=" + a.hash
			modules = append(modules, p)
		}
	}
	sort.Strings(modules)
	mapJSON, err := json.Marshal(map[string]any{"imports": imports})
	if err != nil {
		return nil, err
	}
	importMap := `<script type="importmap">` + string(mapJSON) + `</script>`
	body := index.body
	body = bytes.Replace(body, []byte("<!--importmap-->"), []byte(importMap), 1)
	for _, p := range append(modules, "/css/sluice.css") {
		if a := site.assets[p]; a != nil {
			body = bytes.ReplaceAll(body, []byte(`"`+p+`"`), []byte(`"`+p+"?v="+a.hash+`"`))
		}
	}
	index.body, index.hash = body, hashOf(body)
	// The import map is the only inline script: allowed by its hash.
	mapSum := sha256.Sum256(mapJSON)
	site.csp = "default-src 'none'; script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(mapSum[:]) +
		"'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
	site.assets["/"] = index
	return site, nil
}

func (site *uiSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := site.assets[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+a.hash+`"`)
	if a.ctype == uiTypes[".html"] {
		h.Set("Content-Security-Policy", site.csp)
		h.Set("Referrer-Policy", "no-referrer")
	}
	if v := r.URL.Query().Get("v"); v != "" && v == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers If-None-Match (304), HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
