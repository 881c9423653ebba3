DROP TABLE books_writer;
