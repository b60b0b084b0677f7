package slack

import (
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/chatbridge/chatbridge/bridge"
)

// This file shows in Slack the edits and deletions of messages it showed
// (made in the inbox or in Matrix): the posts that carried a message are
// found by its record (postRecord) and updated or deleted.

// deliverEdit updates the posts of an edited message with its new text
// (chat.update): parts the new text no longer needs are deleted, parts it
// needs more are posted after them. A message without a record here (never
// shown, or shown before records were kept) gets a new post with the new
// text, marked as an edit.
func (a *Adapter) deliverEdit(ctx context.Context, d bridge.Delivery, self identity) error {
	m := d.Message
	if m == nil {
		return fmt.Errorf("%w: edit entry without its message", bridge.ErrPermanent)
	}
	if !a.WantsMessage(*m) || m.Deleted {
		return nil
	}
	channel, root, err := a.threadOf(ctx, m.ConversationID)
	if errors.Is(err, bridge.ErrNotFound) {
		return nil // never shown in Slack
	}
	if err != nil {
		return err
	}
	rec, found, err := a.loadRecord(ctx, m.ConversationID, m.Seq)
	if err != nil {
		return err
	}
	if rec.Deleted {
		return nil
	}
	r := render(*m, d.Visitor, rec.Customized && self.Customize)
	if err := a.findShare(ctx, &rec, channel, root); err != nil {
		return err
	}
	targets := rec.textPosts()
	if !found || len(targets) == 0 {
		texts := make([]string, len(r.texts))
		for i, t := range r.texts {
			texts[i] = "✏️ _edited_ " + t
		}
		_, err := a.postParts(ctx, d.Entry, channel, root, texts, r.opts...)
		return err
	}
	var kept []string
	for i := 0; i < len(targets) || i < len(r.texts); i++ {
		if i >= len(r.texts) {
			if err := a.deletePost(ctx, targets[i]); err != nil {
				return err
			}
			continue
		}
		if i < len(targets) {
			ch, ts, _ := splitRef(targets[i])
			_, _, _, err := a.api.UpdateMessageContext(ctx, ch, ts, slack.MsgOptionText(r.texts[i], false))
			switch slackErrCode(err) {
			case "":
				kept = append(kept, targets[i])
				continue
			case "message_not_found", "cant_update_message", "edit_window_closed":
				a.log.Warn("slack post not updated, posting the edit instead", "conversation", m.ConversationID, "seq", m.Seq, "err", err)
			default:
				return fmt.Errorf("update post: %w", err)
			}
		}
		ref, err := a.postPart(ctx, d.Entry, channel, root, i, r.texts[i], r.opts...)
		if err != nil {
			return err
		}
		kept = append(kept, ref)
	}
	if rec.Comment && len(kept) > 0 && kept[0] == rec.FileTS {
		kept = kept[1:]
	} else {
		rec.Comment = false // the share's comment could not be updated
	}
	rec.Posts = kept
	return a.saveRecord(ctx, m.ConversationID, m.Seq, rec)
}

// findShare fills in which message shares the record's file, when the
// record does not say (files.info tells).
func (a *Adapter) findShare(ctx context.Context, rec *postRecord, channel, root string) error {
	if rec.File == "" || rec.FileTS != "" {
		return nil
	}
	ts, ok, err := a.fileShare(ctx, rec.File, channel, root)
	if ok {
		rec.FileTS = channel + ":" + ts
	}
	return err
}

// textPosts returns the "channel:ts" of the posts that carry a message's
// text, in order: the message sharing its file first when the text is the
// upload's comment.
func (rec postRecord) textPosts() []string {
	if rec.Comment && rec.FileTS != "" {
		return append([]string{rec.FileTS}, rec.Posts...)
	}
	return rec.Posts
}

// deliverDeletion deletes the posts of a deleted message (chat.delete) and
// its file (files.delete). A message without a record here gets a post
// saying that a message was deleted.
func (a *Adapter) deliverDeletion(ctx context.Context, d bridge.Delivery) error {
	m := d.Message
	if m == nil {
		return fmt.Errorf("%w: deletion entry without its message", bridge.ErrPermanent)
	}
	if !a.WantsMessage(*m) {
		return nil
	}
	channel, root, err := a.threadOf(ctx, m.ConversationID)
	if errors.Is(err, bridge.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	rec, found, err := a.loadRecord(ctx, m.ConversationID, m.Seq)
	if err != nil || rec.Deleted {
		return err
	}
	if !found {
		text := "🗑️ *" + Escape(author(*m, d.Visitor)) + "* deleted an earlier message."
		_, err := a.postParts(ctx, d.Entry, channel, root, []string{text})
		return err
	}
	if err := a.findShare(ctx, &rec, channel, root); err != nil {
		return err
	}
	posts := rec.textPosts()
	if rec.FileTS != "" && !rec.Comment {
		posts = append(posts, rec.FileTS)
	}
	for _, ref := range posts {
		if err := a.deletePost(ctx, ref); err != nil {
			return err
		}
	}
	if rec.File != "" {
		err := a.api.DeleteFileContext(ctx, rec.File)
		switch slackErrCode(err) {
		case "", "file_not_found", "file_deleted":
		default:
			return fmt.Errorf("delete file: %w", err)
		}
	}
	return a.saveRecord(ctx, m.ConversationID, m.Seq, postRecord{Deleted: true})
}

// deletePost deletes one post; one already gone is no error.
func (a *Adapter) deletePost(ctx context.Context, ref string) error {
	channel, ts, ok := splitRef(ref)
	if !ok {
		return nil
	}
	_, _, err := a.api.DeleteMessageContext(ctx, channel, ts)
	switch slackErrCode(err) {
	case "", "message_not_found":
		return nil
	case "cant_delete_message":
		a.log.Warn("slack post not deleted", "post", ref, "err", err)
		return nil
	}
	return fmt.Errorf("delete post: %w", err)
}
