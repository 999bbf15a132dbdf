package apperr_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/eventide/realtime/internal/apperr"
)

func TestErrorf(t *testing.T) {
	err := apperr.Errorf(apperr.CodeNotFound, "slot %d not found", 17)
	if got := err.Error(); got != "slot 17 not found" {
		t.Fatalf("Error() = %q", got)
	}
	if apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("code = %q", apperr.CodeOf(err))
	}
	wrapped := fmt.Errorf("store: %w", err)
	if apperr.CodeOf(wrapped) != apperr.CodeNotFound || apperr.MessageOf(wrapped) != "slot 17 not found" {
		t.Fatalf("wrapped: %q %q", apperr.CodeOf(wrapped), apperr.MessageOf(wrapped))
	}
}

func TestErrorfWrapsCause(t *testing.T) {
	err := apperr.Errorf(apperr.CodeInternal, "read: %w", io.EOF)
	if !errors.Is(err, io.EOF) {
		t.Fatal("cause not unwrapped")
	}
}

func TestInvalid(t *testing.T) {
	err := apperr.Invalid("start", "must be before end")
	if apperr.FieldOf(err) != "start" || apperr.CodeOf(err) != apperr.CodeInvalid {
		t.Fatalf("got %q %q", apperr.FieldOf(err), apperr.CodeOf(err))
	}
	if err.Error() != "start: must be before end" || apperr.MessageOf(err) != "must be before end" {
		t.Fatalf("Error() = %q", err.Error())
	}
}

func TestPlainErrors(t *testing.T) {
	if apperr.CodeOf(nil) != "" || apperr.MessageOf(nil) != "" || apperr.FieldOf(nil) != "" {
		t.Fatal("nil must give empty values")
	}
	plain := errors.New("disk on fire")
	if apperr.CodeOf(plain) != apperr.CodeInternal {
		t.Fatal("plain error must be internal")
	}
	if apperr.MessageOf(plain) == "disk on fire" {
		t.Fatal("internal details leaked")
	}
	if !apperr.Is(apperr.Wrap(apperr.CodeConflict, plain, "overlap"), apperr.CodeConflict) {
		t.Fatal("Is")
	}
}
