// Package linktest holds the tables of YouTube links that both the unit tests
// of the link parser and the admission tests against a real API server use,
// so that the two agree on what a video link is.
package linktest

// Valid are the link shapes users paste, each with the video ID it names.
var Valid = map[string]string{
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ":                                  "dQw4w9WgXcQ",
	"https://youtube.com/watch?v=dQw4w9WgXcQ":                                      "dQw4w9WgXcQ",
	"http://www.youtube.com/watch?v=dQw4w9WgXcQ":                                   "dQw4w9WgXcQ",
	"www.youtube.com/watch?v=dQw4w9WgXcQ":                                          "dQw4w9WgXcQ",
	"https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=share":                      "dQw4w9WgXcQ",
	"https://music.youtube.com/watch?v=dQw4w9WgXcQ&si=abc":                         "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ":                    "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLFgquLnL59alCl_2TQvOiD5Vgm": "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ#t=42":                             "dQw4w9WgXcQ",
	"https://youtu.be/dQw4w9WgXcQ":                                                 "dQw4w9WgXcQ",
	"https://youtu.be/dQw4w9WgXcQ?t=42":                                            "dQw4w9WgXcQ",
	"https://www.youtube.com/shorts/aqz-KE-bpKQ":                                   "aqz-KE-bpKQ",
	"https://youtube.com/shorts/aqz-KE-bpKQ?feature=share":                         "aqz-KE-bpKQ",
	"https://www.youtube.com/embed/M7lc1UVf-VE":                                    "M7lc1UVf-VE",
	"https://www.youtube-nocookie.com/embed/M7lc1UVf-VE?rel=0":                     "M7lc1UVf-VE",
	"https://www.youtube.com/live/jfKfPfyJRdk":                                     "jfKfPfyJRdk",
	"https://www.youtube.com/live/jfKfPfyJRdk?si=xyz":                              "jfKfPfyJRdk",
	"https://www.youtube.com/v/dQw4w9WgXcQ":                                        "dQw4w9WgXcQ",
	"HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ":                                  "dQw4w9WgXcQ",
	"https://YouTu.be/Ab_cD-3fGh1":                                                 "Ab_cD-3fGh1",
}

// Invalid are links that are not links to one YouTube video.
var Invalid = []string{
	"",
	"dQw4w9WgXcQ", // a bare ID is not a link
	"https://vimeo.com/123456789",
	"https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm",
	"https://www.youtube.com/@RickAstleyYT",
	"https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw",
	"https://www.youtube.com/watch?v=dQw4w9WgXc",   // 10 characters
	"https://www.youtube.com/watch?v=dQw4w9WgXcQQ", // 12 characters
	"https://www.youtube.com/watch?v=dQw4w9WgX!Q",
	"https://www.youtube.com/watch?list=PLFgquLnL59alCl_2TQvOiD5Vgm",
	"https://www.youtube.com/watch?xv=dQw4w9WgXcQ",
	"https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
	"https://evil.example/youtube.com/watch?v=dQw4w9WgXcQ",
	"https://notyoutube.com/watch?v=dQw4w9WgXcQ",
	"ftp://www.youtube.com/watch?v=dQw4w9WgXcQ",
	" https://www.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ\n",
	"https://youtu.be/",
	"https://gaming.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/results?search_query=rick",
	"https://www.youtube.com/shorts/",
	"javascript:alert(1)//youtu.be/dQw4w9WgXcQ",
}
