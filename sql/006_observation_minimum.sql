-- 006: a grade that is only a minimum (CLINICAL.md "Comparators that leave
-- the grade open", issue 11 item 5). `<75` platelets is some value below 75:
-- grade 2 at least, grades 3-4 not excluded; the row's grade is the one it
-- is known to reach, and grade_is_minimum says that a higher one cannot be
-- ruled out. Rows written before this migration were not marked: false.
ALTER TABLE observations ADD COLUMN grade_is_minimum boolean
    NOT NULL DEFAULT false;
