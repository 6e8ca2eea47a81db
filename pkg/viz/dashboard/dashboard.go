package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web/index.html dist/dashboard.js dist/dashboard.css dist/dashboard.js.LEGAL.txt
var files embed.FS

// Handler serves the page at / and its bundle beside it, and passes /api/ to api: the viz
// API itself (pkg/viz's Server.Handler) or a way to it.
func Handler(api http.Handler) http.Handler {
	web, _ := fs.Sub(files, "web")
	dist, _ := fs.Sub(files, "dist")
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	page := http.FileServerFS(web)
	bundle := http.FileServerFS(dist)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { page.ServeHTTP(w, r) })
	mux.HandleFunc("GET /dashboard.js", func(w http.ResponseWriter, r *http.Request) { bundle.ServeHTTP(w, r) })
	mux.HandleFunc("GET /dashboard.css", func(w http.ResponseWriter, r *http.Request) { bundle.ServeHTTP(w, r) })
	mux.HandleFunc("GET /dashboard.js.LEGAL.txt", func(w http.ResponseWriter, r *http.Request) { bundle.ServeHTTP(w, r) })
	return mux
}
