package conformance

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The web UI's browser tests drive Debian's chromium with chromedp
// (scripts/install-chromium.sh installs it; `make test` runs that first).

// uiWait bounds one step of a browser test: the UI refreshes every 5 s,
// and a loaded machine (make test runs packages side by side) slows the
// browser down a lot; steps take well under a second otherwise.
const uiWait = 30 * time.Second

// chromiumPath finds the browser: $SLUICE_CHROMIUM, /usr/bin/chromium,
// then chromium or chromium-browser on PATH. Without one the test fails,
// unless SLUICE_SKIP_BROWSER_TESTS=1 says that skipping is allowed (a
// machine that cannot install it); CI and `make test` install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLUICE_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("SLUICE_SKIP_BROWSER_TESTS") == "1" {
		t.Skip("no chromium found and SLUICE_SKIP_BROWSER_TESTS=1: the web UI's browser tests did not run (scripts/install-chromium.sh installs it)")
	}
	t.Fatal("no chromium found for the web UI's browser tests: run scripts/install-chromium.sh (or set SLUICE_CHROMIUM; SLUICE_SKIP_BROWSER_TESTS=1 skips instead)")
	return ""
}

// uiBrowser is one headless Chromium tab for a test, with its console
// exceptions collected (a test fails on any) and confirm() dialogs
// accepted, as a person clicking OK.
type uiBrowser struct {
	t    *testing.T
	ctx  context.Context
	base string
	// shots is where screenshots go: the test's artifacts directory and,
	// with SLUICE_UI_SCREENSHOTS set, that directory too (docs/ui).
	shots  []string
	opened int
}

func newUIBrowser(t *testing.T, base string) *uiBrowser {
	t.Helper()
	bin := chromiumPath(t)
	// The flags this machine needs as root, and none that reach out: no
	// background networking, component updates, sync or QUIC.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium (%s): %v", bin, err)
	}
	b := &uiBrowser{t: t, ctx: ctx, base: base}
	dir := os.Getenv("SLUICE_UI_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	b.shots = []string{dir}
	if d := os.Getenv("SLUICE_UI_SCREENSHOTS"); d != "" {
		if !filepath.IsAbs(d) {
			d = filepath.Join(moduleRoot(t), d)
		}
		b.shots = append(b.shots, d)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	msgs := chromedp.Console(ctx)
	exceptions := make(chan string, 16)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException {
				select {
				case exceptions <- m.Text:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case e := <-exceptions:
			t.Errorf("the UI threw in the browser: %s", e)
		default:
		}
	})
	return b
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// do runs browser actions, failing the test (with what) on an error.
func (b *uiBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (page text: %q)", what, err, b.text("body"))
	}
}

// open loads the page afresh at an app route (#/queues), as a person
// opening a bookmark (the login is kept in sessionStorage), and waits for
// the page to show. The query makes each URL new: a hash change alone
// would not load the page again.
func (b *uiBrowser) open(route string) {
	b.t.Helper()
	b.opened++
	b.do("open "+route, chromedp.Navigate(fmt.Sprintf("%s/?load=%d%s", b.base, b.opened, route)),
		chromedp.WaitVisible(chromedp.CSS("#main")),
		chromedp.WaitNotPresent(chromedp.CSS("#main > p.loading")))
}

// waitText waits until the element sel exists and its text contains want.
func (b *uiBrowser) waitText(sel, want string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiWait)
	defer cancel()
	expr := `(() => { const e = document.querySelector(` + jsString(sel) + `); return !!e && e.textContent.includes(` + jsString(want) + `); })()`
	start := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(uiWait))); err != nil {
		b.t.Fatalf("waiting for %q in %s: %v (it says %q)", want, sel, err, b.text(sel))
	}
	if d := time.Since(start); d > 3*time.Second {
		b.t.Logf("waited %v for %q in %s", d.Round(time.Millisecond), want, sel)
	}
}

// text is the text of sel ("" when absent).
func (b *uiBrowser) text(sel string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.innerText : ''; })()`))
	return s
}

// eval runs JavaScript in the page (to open a section, say).
func (b *uiBrowser) eval(js string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](js)); err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
}

// fill sets an input's value as typing would (with an input event).
func (b *uiBrowser) fill(sel, text string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	b.eval(`(() => { const e = document.querySelector(` + jsString(sel) + `); e.focus(); e.value = ` + jsString(text) +
		`; e.dispatchEvent(new Event('input', { bubbles: true })); })()`)
}

// click clicks sel once it is visible. The click is the element's own
// (HTMLElement.click), not a mouse event at coordinates: the page's flash
// messages go away after 6 s and the layout moves up, so a mouse click
// computed before that lands on whatever is there after it (a clean-clone
// make test saw the policy form's save button missed that way, under load).
func (b *uiBrowser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	b.eval(`document.querySelector(` + jsString(sel) + `).click()`)
}

// shot saves a screenshot of the whole page as NAME.png.
func (b *uiBrowser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiWait)
	defer cancel()
	// Let the charts and tables settle after the last change.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	for _, d := range b.shots {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// login logs in through the form.
func (b *uiBrowser) login(user, pass string) {
	b.t.Helper()
	b.fill("#username", user)
	b.fill("#password", pass)
	b.click("#login button[type=submit]")
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}
