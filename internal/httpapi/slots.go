package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
)

// slotCreateRequest is the POST body; times are strings so a bad one is
// reported with its field name.
type slotCreateRequest struct {
	Start  *string `json:"start"`
	End    *string `json:"end"`
	Status *string `json:"status"`
	Note   *string `json:"note"`
}

// slotPatchRequest is the PATCH body; absent (or null) fields are kept.
type slotPatchRequest struct {
	Start  *string `json:"start"`
	End    *string `json:"end"`
	Status *string `json:"status"`
	Note   *string `json:"note"`
}

func (req slotCreateRequest) validate() (availability.NewSlot, error) {
	var in availability.NewSlot
	var err error
	if req.Start == nil {
		return in, apperr.Invalid("start", "is required")
	}
	if req.End == nil {
		return in, apperr.Invalid("end", "is required")
	}
	if in.Start, err = parseTime("start", *req.Start); err != nil {
		return in, err
	}
	if in.End, err = parseTime("end", *req.End); err != nil {
		return in, err
	}
	if req.Status != nil {
		if *req.Status == "" {
			return in, apperr.Invalid("status", "must be available, booked or blocked")
		}
		in.Status = *req.Status
	}
	if req.Note != nil {
		if err := checkNote(*req.Note); err != nil {
			return in, err
		}
		in.Note = *req.Note
	}
	return in, nil
}

func (req slotPatchRequest) validate() (availability.Patch, error) {
	var p availability.Patch
	if req.Start != nil {
		t, err := parseTime("start", *req.Start)
		if err != nil {
			return p, err
		}
		p.Start = &t
	}
	if req.End != nil {
		t, err := parseTime("end", *req.End)
		if err != nil {
			return p, err
		}
		p.End = &t
	}
	if req.Note != nil {
		if err := checkNote(*req.Note); err != nil {
			return p, err
		}
	}
	p.Status, p.Note = req.Status, req.Note
	return p, nil
}

// providerParam returns the {providerId} path value after checking the
// caller may watch (write=false) or write (write=true) that provider.
func providerParam(r *http.Request, write bool) (string, error) {
	id := chi.URLParam(r, "providerId")
	c := claims(r)
	allowed := auth.CanWatch(c, id)
	if write {
		allowed = auth.CanWrite(c, id)
	}
	if !allowed {
		verb := "watch"
		if write {
			verb = "change"
		}
		return "", apperr.Errorf(apperr.CodeForbidden, "a %s token may not %s provider %s's slots", c.Role, verb, id)
	}
	if !auth.ValidProviderID(id) {
		return "", apperr.Invalid("providerId", "must be 1-64 characters of A-Z a-z 0-9 _ -")
	}
	return id, nil
}

// slotIDParam reads {slotId}: a positive decimal integer written without
// sign or leading zeros, so /slots/00055 and /slots/+55 are not slot 55.
func slotIDParam(r *http.Request) (int64, error) {
	id, ok := parseCanonicalInt(chi.URLParam(r, "slotId"), false)
	if !ok {
		return 0, apperr.Invalid("slotId", "must be a positive integer without sign or leading zeros")
	}
	return id, nil
}

// ifMatch parses If-Match: `"3"`, `3`, `W/"3"` or `*`; 0 means any version.
func ifMatch(r *http.Request) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, ok := parseCanonicalInt(v, false)
	if !ok {
		return 0, apperr.Invalid("If-Match", `must be a slot version such as "3"`)
	}
	return n, nil
}

func etag(s availability.Slot) string {
	var b [24]byte
	out := append(b[:0], '"')
	out = strconv.AppendInt(out, s.Version, 10)
	return string(append(out, '"'))
}

func handleListSlots(cfg Config, d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		providerID, err := providerParam(r, false)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		q, err := readListQuery(cfg, r)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		list, err := q.list(r.Context(), d.Slots, providerID)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		encode(w, http.StatusOK, list)
	})
}

func handleGetSlot(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		providerID, err := providerParam(r, false)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		id, err := slotIDParam(r)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		s, err := d.Slots.Get(r.Context(), providerID, id)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		w.Header().Set("ETag", etag(s))
		encode(w, http.StatusOK, s)
	})
}

func handleCreateSlot(cfg Config, d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		providerID, err := providerParam(r, true)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		var req slotCreateRequest
		if err := decode(w, r, cfg.maxBody(), &req); err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		in, err := req.validate()
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		s, err := d.Slots.Create(r.Context(), providerID, in)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		w.Header().Set("ETag", etag(s))
		w.Header().Set("Location", fmt.Sprintf("/api/v1/providers/%s/slots/%d", providerID, s.ID))
		encode(w, http.StatusCreated, s)
	})
}

func handleUpdateSlot(cfg Config, d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		providerID, id, version, err := writeTarget(r)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		var req slotPatchRequest
		if err := decode(w, r, cfg.maxBody(), &req); err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		p, err := req.validate()
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		// A patch that changes nothing is answered with the slot as it
		// is, and writes nothing (availability.Service.Update).
		s, err := d.Slots.Update(r.Context(), providerID, id, p, version)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		w.Header().Set("ETag", etag(s))
		encode(w, http.StatusOK, s)
	})
}

func handleDeleteSlot(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		providerID, id, version, err := writeTarget(r)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		if err := d.Slots.Delete(r.Context(), providerID, id, version); err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// writeTarget reads what PATCH and DELETE act on: the provider (which the
// caller must be allowed to write), the slot id and the If-Match version.
func writeTarget(r *http.Request) (providerID string, id, version int64, err error) {
	if providerID, err = providerParam(r, true); err != nil {
		return "", 0, 0, err
	}
	if id, err = slotIDParam(r); err != nil {
		return "", 0, 0, err
	}
	if version, err = ifMatch(r); err != nil {
		return "", 0, 0, err
	}
	return providerID, id, version, nil
}
