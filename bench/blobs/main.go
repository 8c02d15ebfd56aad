// Command blobs measures how much `picloud serve` grows while it streams a
// large blob in and out: it uploads SIZE bytes (generated, never held in
// memory) with PUT /api/v1/blobs/bench/big, downloads them back (checking
// the sha256), and samples the server's /proc/PID/status (VmRSS, VmHWM)
// every 20 ms. VmHWM is reset before each phase (/proc/PID/clear_refs,
// needs the same user or root). Run by bench/blobs.sh.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "picloud serve's `URL`")
	token := flag.String("token", os.Getenv("PICLOUD_TOKEN"), "a token with the blobs and read scopes")
	pid := flag.Int("pid", 0, "`PID` of picloud serve")
	size := flag.Int64("size", 500<<20, "blob size in bytes")
	flag.Parse()
	if *pid == 0 || *token == "" {
		fmt.Fprintln(os.Stderr, "usage: blobs -pid PID -token TOKEN [-url URL] [-size BYTES]")
		os.Exit(2)
	}
	base := rss(*pid)
	fmt.Printf("blob size: %d MiB; serve RSS before: %.1f MiB\n", *size>>20, mib(base.rss))

	up := phase(*pid, func() (string, error) {
		h := sha256.New()
		body := io.TeeReader(io.LimitReader(&pattern{r: rand.New(rand.NewPCG(1, 2))}, *size), h)
		req, err := http.NewRequest(http.MethodPut, *url+"/api/v1/blobs/bench/big", body)
		if err != nil {
			return "", err
		}
		req.ContentLength = *size
		req.Header.Set("Authorization", "Bearer "+*token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			return "", fmt.Errorf("upload: %d %s", resp.StatusCode, b)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	})
	down := phase(*pid, func() (string, error) {
		req, _ := http.NewRequest(http.MethodGet, *url+"/api/v1/blobs/bench/big", nil)
		req.Header.Set("Authorization", "Bearer "+*token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		if err != nil || n != *size {
			return "", fmt.Errorf("download: %d of %d bytes: %v", n, *size, err)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	})
	if up.sum != down.sum {
		fmt.Fprintln(os.Stderr, "download differs from upload")
		os.Exit(1)
	}
	for _, p := range []struct {
		name string
		r    result
	}{{"upload", up}, {"download", down}} {
		fmt.Printf("%-8s %6.1f s  %6.1f MiB/s  peak RSS %.1f MiB (VmHWM %.1f MiB)  growth %.1f MiB over the RSS before\n",
			p.name, p.r.took.Seconds(), float64(*size)/(1<<20)/p.r.took.Seconds(), mib(p.r.peak), mib(p.r.hwm), mib(max(p.r.peak, p.r.hwm)-base.rss))
	}
}

type result struct {
	took      time.Duration
	peak, hwm int64
	sum       string
}

// phase runs f while sampling the server's memory.
func phase(pid int, f func() (string, error)) result {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // reset VmHWM
	var mu sync.Mutex
	var peak int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			m := rss(pid)
			mu.Lock()
			peak = max(peak, m.rss)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	sum, err := f()
	took := time.Since(start)
	close(stop)
	<-done
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return result{took: took, peak: peak, hwm: rss(pid).hwm, sum: sum}
}

type mem struct{ rss, hwm int64 }

// rss reads VmRSS and VmHWM of pid in bytes.
func rss(pid int) mem {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	var m mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		}
	}
	return m
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// pattern is an endless reader of pseudo-random bytes (incompressible,
// like most real blobs).
type pattern struct{ r *rand.Rand }

func (p *pattern) Read(b []byte) (int, error) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := p.r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(p.r.Uint32())
	}
	return len(b), nil
}
