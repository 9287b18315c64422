-- Emptied again: the node recounts at its next start, without the parts.
DELETE FROM name_counts;
